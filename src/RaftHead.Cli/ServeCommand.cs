using System.CommandLine;
using System.Net;
using RaftHead.Head;
using RaftHead.Protocol;
using RaftHead.Worker;

namespace RaftHead.Cli;

/// <summary><c>rh serve</c>: one node, no replication; the CAS and action cache over REAPI.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "gRPC port (REAPI, admin).", DefaultValueFactory = _ => Defaults.HeadGrpcPort };
        var host = new Option<string>("--host") { Description = "Address to bind.", DefaultValueFactory = _ => "127.0.0.1" };
        var data = new Option<string?>("--data") { Description = "Data directory (CAS segments, index checkpoints). Default: a rafthead-data folder in the current directory." };
        var casMaxBytes = new Option<long>("--cas-max-bytes") { Description = "CAS size bound; least recently used blobs are evicted beyond it.", DefaultValueFactory = _ => Defaults.CasMaxBytes };
        var exec = new Option<bool>("--exec") { Description = "Also run actions here (REAPI Execute); without it the node is a cache only." };
        var slots = new Option<int>("--slots") { Description = "Actions run at once with --exec.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var runAs = new Option<string>("--run-as") { Description = "Unprivileged account actions run as when rh runs as root (scripts/setup-worker.sh creates it).", DefaultValueFactory = _ => Defaults.RunAsUser };
        var serve = new Command("serve", "Run one node without replication: CAS and action cache over REAPI, and with --exec, execution.");
        serve.Options.Add(port);
        serve.Options.Add(host);
        serve.Options.Add(data);
        serve.Options.Add(casMaxBytes);
        serve.Options.Add(exec);
        serve.Options.Add(slots);
        serve.Options.Add(runAs);
        serve.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, async () =>
        {
            if (!IPAddress.TryParse(result.GetValue(host), out var address))
            {
                throw new UsageException($"--host '{result.GetValue(host)}' is not an IP address");
            }

            if (result.GetValue(port) is < 0 or > 65535)
            {
                throw new UsageException($"--port {result.GetValue(port)} is not a port number");
            }

            var options = new SingleNodeOptions
            {
                Address = address,
                Port = result.GetValue(port),
                DataDirectory = Path.GetFullPath(result.GetValue(data) ?? "rafthead-data"),
                CasMaxBytes = result.GetValue(casMaxBytes),
                ExecutionEnabled = result.GetValue(exec),
                Execution = new RaftHead.Head.Execution.ExecutionOptions { Slots = result.GetValue(slots) },
            };
            if (options.Execution.Slots < 1)
            {
                throw new UsageException($"--slots {options.Execution.Slots} must be at least 1");
            }

            using var stop = new CancellationTokenSource();
            StopSignals.Route(stop);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);

            // The head and the worker meet here, in the composition root, and only through the runner contract.
            ActionRunner? runner = null;
            var runAsUser = result.GetValue(runAs)!;
            var node = await SingleNodeHead.StartAsync(
                options,
                options.ExecutionEnabled ? store => runner = CreateRunner(store, options, runAsUser) : null,
                linked.Token).ConfigureAwait(false);
            await using var running = node;
            if (runner is not null)
            {
                Console.WriteLine($"execution: {options.Execution.Slots} slot(s); {runner.Isolation.Describe()}");
            }

            Console.WriteLine($"ready: grpc://{node.Address.Authority} data={options.DataDirectory}{(options.ExecutionEnabled ? " exec=on" : "")}");
            try
            {
                await Task.Delay(Timeout.Infinite, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            Console.WriteLine("stopping");
            return 0;
        }));
        return serve;
    }

    private static ActionRunner CreateRunner(RaftHead.Storage.IBlobStore store, SingleNodeOptions options, string runAsUser) =>
        new(
            store,
            new RunnerOptions
            {
                WorkDirectory = Path.Combine(options.DataDirectory, "work"),
                WorkerId = options.Execution.WorkerName,
                RunAsUser = runAsUser,
                DefaultTimeout = TimeSpan.FromMilliseconds(options.Execution.ActionTimeoutDefaultMs),
                MaxTimeout = TimeSpan.FromMilliseconds(options.Execution.ActionTimeoutMaxMs),
                WarmSandboxes = options.Execution.Slots + 1,
            },
            logger: null);
}
