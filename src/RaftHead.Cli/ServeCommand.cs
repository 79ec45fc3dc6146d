using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using RaftHead.Head;
using RaftHead.Protocol;
using RaftHead.Worker;
using RaftHead.Worker.Agent;

namespace RaftHead.Cli;

/// <summary><c>rh serve</c>: one head alone (a one-member log); the CAS and action cache over REAPI, and with --exec a worker in this process.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "gRPC port (REAPI, admin).", DefaultValueFactory = _ => Defaults.HeadGrpcPort };
        var host = new Option<string>("--host") { Description = "Address to bind.", DefaultValueFactory = _ => "127.0.0.1" };
        var data = new Option<string?>("--data") { Description = "Data directory (CAS, log, worker sandboxes). Default: a rafthead-data folder in the current directory." };
        var casMaxBytes = new Option<long>("--cas-max-bytes") { Description = "CAS size bound; least recently used blobs are evicted beyond it.", DefaultValueFactory = _ => Defaults.CasMaxBytes };
        var exec = new Option<bool>("--exec") { Description = "Also run actions here (REAPI Execute) with a worker in this process; without it the node is a cache only." };
        var slots = new Option<int>("--slots") { Description = "Actions run at once with --exec.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var runAs = new Option<string>("--run-as") { Description = "Unprivileged account actions run as when rh runs as root (scripts/setup-worker.sh creates it).", DefaultValueFactory = _ => Defaults.RunAsUser };
        var serve = new Command("serve", "Run one head alone: CAS and action cache over REAPI, and with --exec, execution by a worker in this process.");
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

            if (result.GetValue(slots) < 1)
            {
                throw new UsageException($"--slots {result.GetValue(slots)} must be at least 1");
            }

            var options = new HeadNodeOptions
            {
                Address = address,
                Port = result.GetValue(port),
                DataDirectory = Path.GetFullPath(result.GetValue(data) ?? "rafthead-data"),
                CasMaxBytes = result.GetValue(casMaxBytes),
                ExecutionEnabled = result.GetValue(exec),
            };

            using var stop = new CancellationTokenSource();
            StopSignals.Route(stop);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);
            using var logging = CliLogging.Create();
            await using var node = await HeadNode.StartAsync(options, linked.Token, logging).ConfigureAwait(false);
            InProcessWorker? worker = null;
            if (options.ExecutionEnabled)
            {
                // The head and the worker meet here, in the composition root, and only through the worker protocol.
                var workerData = Path.Combine(options.DataDirectory, "worker");
                var workerSlots = result.GetValue(slots);
                var runner = new ActionRunner(
                    node.Blobs,
                    new RunnerOptions
                    {
                        WorkDirectory = Path.Combine(workerData, "work"),
                        WorkerId = WorkerIdentity.LoadOrCreate(workerData),
                        RunAsUser = result.GetValue(runAs)!,
                        DefaultTimeout = TimeSpan.FromMilliseconds(options.Execution.ActionTimeoutDefaultMs),
                        MaxTimeout = TimeSpan.FromMilliseconds(options.Execution.ActionTimeoutMaxMs),
                        WarmSandboxes = workerSlots + 1,
                    });
                var isolation = runner.Isolation.Describe();
                worker = await InProcessWorker.StartAsync(
                    [node.Address.Authority],
                    node.Blobs,
                    runner,
                    new WorkerAgentOptions { DataDirectory = workerData, Slots = workerSlots },
                    linked.Token,
                    logging.CreateLogger<WorkerAgent>()).ConfigureAwait(false);
                Console.WriteLine($"execution: {workerSlots} slot(s); {isolation}");
            }

            try
            {
                Console.WriteLine($"ready: grpc://{node.Address.Authority} data={options.DataDirectory}{(options.ExecutionEnabled ? " exec=on" : "")}");
                await Task.Delay(Timeout.Infinite, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                Console.WriteLine("stopping");
                if (worker is not null)
                {
                    await worker.DisposeAsync().ConfigureAwait(false);
                }
            }

            return 0;
        }));
        return serve;
    }
}
