using System.CommandLine;
using System.Net;
using RaftHead.Head;

namespace RaftHead.Cli;

/// <summary><c>rh serve</c>: one node, no replication; the CAS and action cache over REAPI.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "gRPC port (REAPI, admin).", DefaultValueFactory = _ => 8980 };
        var host = new Option<string>("--host") { Description = "Address to bind.", DefaultValueFactory = _ => "127.0.0.1" };
        var data = new Option<string?>("--data") { Description = "Data directory (CAS segments, index checkpoints). Default: a rafthead-data folder in the current directory." };
        var casMaxBytes = new Option<long>("--cas-max-bytes") { Description = "CAS size bound; least recently used blobs are evicted beyond it.", DefaultValueFactory = _ => 10L * 1024 * 1024 * 1024 };
        var exec = new Option<bool>("--exec") { Description = "Also run actions here (REAPI Execute); without it the node is a cache only." };
        var slots = new Option<int>("--slots") { Description = "Actions run at once with --exec.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var runAs = new Option<string>("--run-as") { Description = "Unprivileged account actions run as when rh runs as root (scripts/setup-worker.sh creates it).", DefaultValueFactory = _ => "rh-runner" };
        var serve = new Command("serve", "Run one node without replication: CAS and action cache over REAPI, and with --exec, execution.");
        serve.Options.Add(port);
        serve.Options.Add(host);
        serve.Options.Add(data);
        serve.Options.Add(casMaxBytes);
        serve.Options.Add(exec);
        serve.Options.Add(slots);
        serve.Options.Add(runAs);
        serve.SetAction((result, cancellationToken) => CliFailure.RunAsync(async () =>
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
                RunAsUser = result.GetValue(runAs)!,
            };
            if (options.Execution.Slots < 1)
            {
                throw new UsageException($"--slots {options.Execution.Slots} must be at least 1");
            }

            SingleNodeHead node;
            try
            {
                node = await SingleNodeHead.StartAsync(options, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                // The runner refuses to start rather than run actions as root; say why in one line.
                throw new UsageException(e.Message);
            }

            await using var running = node;
            if (node.Isolation is { } isolation)
            {
                Console.WriteLine($"execution: {options.Execution.Slots} slot(s); {isolation.Describe()}");
            }

            Console.WriteLine($"ready: grpc://{node.Address.Authority} data={options.DataDirectory}{(options.ExecutionEnabled ? " exec=on" : "")}");
            using var stop = new CancellationTokenSource();
            using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            });
            using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            });
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);
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
}
