using System.CommandLine;
using Microsoft.Extensions.Logging;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage.Remote;
using RaftHead.Worker;
using RaftHead.Worker.Agent;
using RaftHead.Worker.Peer;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Cli;

/// <summary><c>rh worker</c>: runs actions for a cluster of heads, reached through the worker protocol.</summary>
internal static class WorkerCommand
{
    public static Command Create()
    {
        var heads = new Option<string?>("--heads") { Description = $"Heads to work for, comma-separated host:port (any replicas; the worker moves between them). Default: --endpoint, $RH_ENDPOINT, else {Defaults.Endpoint}." };
        var slots = new Option<int>("--slots") { Description = "Actions run at once.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var leaseAhead = new Option<int?>("--lease-ahead") { Description = "Leases held beyond --slots, queued until a slot frees so the next action starts at once (0: none). Default: one per slot." };
        var data = new Option<string?>("--data") { Description = $"Data directory (worker id, file cache, sandboxes); the run-as user must be able to reach it. Default: {DefaultDataDirectory()}." };
        var platform = new Option<string[]>("--platform") { Description = "A platform property offered, name=value; repeat for more. A name given replaces the machine's default (OSFamily, ISA).", AllowMultipleArgumentsPerToken = false };
        var runAs = new Option<string>("--run-as") { Description = "Unprivileged account actions run as when rh runs as root (scripts/setup-worker.sh creates it).", DefaultValueFactory = _ => Defaults.RunAsUser };
        var gpus = new Option<uint>("--gpus") { Description = "GPUs offered." };
        var peerListen = new Option<string>("--peer-listen") { Description = "Where the worker serves its blobs to peers, ip:port (port 0: any free one); an address the other workers can reach.", DefaultValueFactory = _ => "127.0.0.1:0" };
        var noPeer = new Option<bool>("--no-peer") { Description = "Serve no blobs to peers and read none from them: inputs come from the heads only." };
        var worker = new Command("worker", "Run actions for a cluster of heads: register, lease work, run it sandboxed, store the outputs on a head, report.");
        worker.Options.Add(heads);
        worker.Options.Add(slots);
        worker.Options.Add(leaseAhead);
        worker.Options.Add(data);
        worker.Options.Add(platform);
        worker.Options.Add(runAs);
        worker.Options.Add(gpus);
        worker.Options.Add(peerListen);
        worker.Options.Add(noPeer);
        worker.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, async () =>
        {
            var endpoints = ParseHeads(result.GetValue(heads) ?? CliOptions.ResolveEndpoint(result));
            if (result.GetValue(slots) < 1)
            {
                throw new UsageException($"--slots {result.GetValue(slots)} must be at least 1");
            }

            if (result.GetValue(leaseAhead) is < 0)
            {
                throw new UsageException($"--lease-ahead {result.GetValue(leaseAhead)} must not be negative");
            }

            System.Net.IPEndPoint? peerAddress = null;
            if (!result.GetValue(noPeer))
            {
                try
                {
                    peerAddress = PeerBlobServer.ParseListen(result.GetValue(peerListen)!);
                }
                catch (FormatException e)
                {
                    throw new UsageException($"--peer-listen: {e.Message}");
                }
            }

            var dataDirectory = Path.GetFullPath(result.GetValue(data) ?? DefaultDataDirectory());
            var options = new WorkerAgentOptions
            {
                DataDirectory = dataDirectory,
                Slots = result.GetValue(slots),
                LeaseAhead = result.GetValue(leaseAhead),
                Platform = MachinePlatform.Merge(MachinePlatform.Default(), ParsePlatform(result.GetValue(platform) ?? Array.Empty<string>())),
                Gpus = result.GetValue(gpus),
            };

            using var stop = new CancellationTokenSource();
            StopSignals.Route(stop);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);

            using var channels = new GrpcChannels(HeadConnection.ChannelSettings);
            var connection = new HeadConnection(endpoints, channels);
            var workerId = WorkerIdentity.LoadOrCreate(dataDirectory);
            var workDirectory = Path.Combine(dataDirectory, "work");
            var cache = new FileCache(Path.Combine(workDirectory, "cache"));
            using var logging = CliLogging.Create();

            using var storage = WorkerStorage.Compose(connection, channels, cache, workerId, peers: peerAddress is not null, logging: logging);
            var store = storage.Store;
            await using var runner = new ActionRunner(
                store,
                new RunnerOptions
                {
                    WorkDirectory = workDirectory,
                    WorkerId = workerId,
                    RunAsUser = result.GetValue(runAs)!,
                    WarmSandboxes = options.Slots + 1,
                },
                cache: cache);
            await using var peerServer = peerAddress is null ? null : await PeerBlobServer.StartAsync(peerAddress, cache, null, linked.Token).ConfigureAwait(false);
            await using var agent = new WorkerAgent(
                options with { PeerEndpoint = peerServer?.Endpoint ?? "" },
                connection,
                runner,
                store,
                logging.CreateLogger<WorkerAgent>(),
                peerServer is null ? null : new BlobReports(cache),
                storage.Peers?.CorruptReports);
            try
            {
                await agent.StartAsync(linked.Token).ConfigureAwait(false);
            }
            catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.Unimplemented)
            {
                throw new InvalidOperationException($"{connection.Current} does not serve the worker protocol: it is not a cluster head (rh serve runs its own actions; workers join heads started with rh head or rh up)");
            }

            Console.WriteLine($"execution: {options.Slots} slot(s), {options.LeaseAheadCount} lease(s) ahead; {runner.Isolation.Describe()}");
            Console.WriteLine(peerServer is null ? "peers: off" : $"peers: serving blobs on {peerServer.Endpoint}");
            Console.WriteLine($"ready: worker {agent.WorkerId} heads={string.Join(',', endpoints)} data={dataDirectory}");
            try
            {
                await Task.WhenAny(Task.Delay(Timeout.Infinite, linked.Token), agent.Completion).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            Console.WriteLine("stopping");
            await agent.StopAsync(CancellationToken.None).ConfigureAwait(false);
            return 0;
        }));
        return worker;
    }

    /// <summary>
    /// A place the run-as user can walk down to: a data directory under a private home or an unsearchable working
    /// directory would make every action fail.
    /// </summary>
    private static string DefaultDataDirectory() =>
        Environment.IsPrivilegedProcess
            ? "/var/lib/rafthead/worker"
            : Path.Combine(Path.GetTempPath(), $"rafthead-worker-{Environment.UserName}");

    private static string[] ParseHeads(string text)
    {
        var endpoints = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (endpoints.Length == 0)
        {
            throw new UsageException("--heads names no head");
        }

        foreach (var endpoint in endpoints)
        {
            try
            {
                GrpcChannels.ParseEndpoint(endpoint);
            }
            catch (FormatException e)
            {
                throw new UsageException($"--heads: {e.Message}");
            }
        }

        return endpoints;
    }

    private static List<KeyValuePair<string, string>> ParsePlatform(string[] given)
    {
        var properties = new List<KeyValuePair<string, string>>(given.Length);
        foreach (var text in given)
        {
            var equals = text.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new UsageException($"--platform '{text}' is not name=value");
            }

            properties.Add(KeyValuePair.Create(text[..equals], text[(equals + 1)..]));
        }

        return properties;
    }
}
