using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using AdminClient = RaftHead.Protocol.V1.Admin.AdminClient;

namespace RaftHead.Cli.Demo;

/// <summary>
/// The demo's cluster: three heads and two workers started as <c>rh up</c> starts them (its plan, its supervisor,
/// restarts included) under a directory of the demo's own. The children's lines go to a log file there, not the
/// terminal. Disposing stops every child by its PID.
/// </summary>
internal sealed class DemoCluster : IAsyncDisposable
{
    public const int Workers = 2;

    /// <summary>Three heads and two workers are ready within seconds; this bounds a machine far slower than that.</summary>
    private const int ReadyTimeoutMs = 60_000;

    /// <summary>A head that has not answered a status question by then counts as not answering this round.</summary>
    private const int AskTimeoutMs = 1_000;

    /// <summary>How often the survivors are asked whether one leads: the resolution of the election time.</summary>
    private const int ElectionPollMs = 10;

    private const int FreePortAttemptsMax = 100;

    private readonly StreamWriter _log;
    private readonly ProcessSupervisor _supervisor;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _latestPid = new(StringComparer.Ordinal);

    private DemoCluster(UpPlan plan, string logPath, StreamWriter log)
    {
        Plan = plan;
        LogPath = logPath;
        _log = log;
        _supervisor = new ProcessSupervisor(log);
        _supervisor.Started += (name, pid) =>
        {
            lock (_lock)
            {
                _latestPid[name] = pid;
            }
        };
    }

    public UpPlan Plan { get; }

    /// <summary>The children's output, each line prefixed with its name.</summary>
    public string LogPath { get; }

    /// <summary>
    /// A cluster planned under <paramref name="directory"/> (which others must be able to search) on three consecutive
    /// ports from <paramref name="basePort"/>, or free ones when null; nothing is started yet.
    /// </summary>
    public static DemoCluster Create(string directory, int? basePort)
    {
        // Should the run-as user be unable to reach the directory, the workers' data goes to a place of this run's
        // own, never that of an `rh up` on the same machine.
        var plan = UpPlan.Create(
            Path.Combine(directory, "cluster"), basePort ?? FreeConsecutivePorts(3), Workers, slots: null, runAs: null, restart: true,
            privilegedWorkerRoot: Path.Combine(Path.GetDirectoryName(UpPlan.PrivilegedWorkerRoot)!, Path.GetFileName(directory)));
        UpCommand.CheckPortsFree(plan.HeadEndpoints);
        Directory.CreateDirectory(plan.DataDirectory, UpCommand.Searchable);
        Directory.CreateDirectory(plan.WorkerDataRoot, UpCommand.Searchable);
        var logPath = Path.Combine(directory, "cluster.log");
        var log = new StreamWriter(logPath);
        return new DemoCluster(plan, logPath, log);
    }

    /// <summary>Starts every child and waits until a leader is elected and sees both workers; returns the leader's id.</summary>
    public async Task<long> StartAsync(CancellationToken cancellationToken)
    {
        var (fileName, prefix) = UpCommand.Self();
        foreach (var child in Plan.Children(fileName, prefix))
        {
            _supervisor.Start(child);
        }

        var (leader, failure) = await UpCommand.WaitReadyAsync(Plan, _supervisor, ReadyTimeoutMs, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return leader ?? throw new DemoFailure(failure ?? "the cluster did not become ready");
    }

    public string Endpoint(long headId) => Plan.HeadEndpoints[(int)headId - 1];

    public static string ChildName(long headId) => string.Create(CultureInfo.InvariantCulture, $"head-{headId}");

    /// <summary>The PID the supervisor started the child with again after <paramref name="killedPid"/> died, or null (not yet).</summary>
    public int? RestartedPid(string name, int killedPid) =>
        _supervisor.StartsOf(name) > 1 && LatestPid(name) is { } pid && pid != killedPid ? pid : null;

    /// <summary>
    /// kill -9 of the head that says it leads, by its PID, through the supervisor (so only a process of this demo is
    /// ever killed, and it is restarted as <c>rh up</c> restarts a head). Returns the leader's answer and the PID.
    /// </summary>
    public async Task<(GetNodeStatusResponse Leader, int Pid)> KillLeaderAsync(GrpcChannels channels, CancellationToken cancellationToken)
    {
        var answers = await AskAsync(channels, Plan.HeadEndpoints, cancellationToken).ConfigureAwait(false);
        var leader = answers.Where(a => a.Role == NodeRole.Leader).MaxBy(a => a.Term)
            ?? throw new DemoFailure("no head said it leads, so there was no leader to kill");
        var name = ChildName(leader.NodeId);
        var ours = LatestPid(name);
        if (ours != leader.Pid)
        {
            throw new DemoFailure(string.Create(CultureInfo.InvariantCulture, $"head {leader.NodeId} reports pid {leader.Pid}, but the demo started it as pid {ours}; not killing it"));
        }

        var killed = _supervisor.KillNow(name) ?? throw new DemoFailure(string.Create(CultureInfo.InvariantCulture, $"head {leader.NodeId} (pid {leader.Pid}) could not be killed: it is not running"));
        return (leader, killed);
    }

    /// <summary>
    /// Asks the heads other than the killed leader every few milliseconds until one says it leads in a later term;
    /// returns its answer and the time since <paramref name="since"/> (a <see cref="Stopwatch"/> timestamp).
    /// </summary>
    public async Task<(GetNodeStatusResponse Leader, long ElapsedMs)> WaitForNewLeaderAsync(GrpcChannels channels, GetNodeStatusResponse killed, long since, TimeSpan bound, CancellationToken cancellationToken)
    {
        var survivors = Plan.HeadEndpoints.Where((_, i) => i + 1 != killed.NodeId).ToList();
        while (Stopwatch.GetElapsedTime(since) < bound)
        {
            var answers = await AskAsync(channels, survivors, cancellationToken).ConfigureAwait(false);
            if (answers.Where(a => a.Role == NodeRole.Leader && a.Term > killed.Term).MaxBy(a => a.Term) is { } leader)
            {
                return (leader, (long)Stopwatch.GetElapsedTime(since).TotalMilliseconds);
            }

            await Task.Delay(ElectionPollMs, cancellationToken).ConfigureAwait(false);
        }

        throw new DemoFailure(string.Create(CultureInfo.InvariantCulture, $"no new leader was elected within {bound.TotalSeconds:0} s of killing head {killed.NodeId}"));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _supervisor.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            await _log.DisposeAsync().ConfigureAwait(false);
        }
    }

    private int? LatestPid(string name)
    {
        lock (_lock)
        {
            return _latestPid.TryGetValue(name, out var pid) ? pid : null;
        }
    }

    /// <summary>Every head's status, asked at once; those that do not answer in time are left out.</summary>
    private static async Task<List<GetNodeStatusResponse>> AskAsync(GrpcChannels channels, IReadOnlyList<string> endpoints, CancellationToken cancellationToken)
    {
        var asks = new Task<GetNodeStatusResponse?>[endpoints.Count];
        for (var i = 0; i < endpoints.Count; i++)
        {
            asks[i] = AskOneAsync(channels, endpoints[i], cancellationToken);
        }

        var answers = new List<GetNodeStatusResponse>(endpoints.Count);
        foreach (var answer in await Task.WhenAll(asks).ConfigureAwait(false))
        {
            if (answer is not null)
            {
                answers.Add(answer);
            }
        }

        return answers;
    }

    private static async Task<GetNodeStatusResponse?> AskOneAsync(GrpcChannels channels, string endpoint, CancellationToken cancellationToken)
    {
        try
        {
            return await new AdminClient(channels.For(endpoint)).GetNodeStatusAsync(
                new GetNodeStatusRequest(), deadline: DateTime.UtcNow.AddMilliseconds(AskTimeoutMs), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The first of <paramref name="count"/> consecutive loopback ports free now (the kernel picks the first).</summary>
    private static int FreeConsecutivePorts(int count)
    {
        for (var attempt = 0; attempt < FreePortAttemptsMax; attempt++)
        {
            var listeners = new List<TcpListener>(count);
            try
            {
                var first = new TcpListener(IPAddress.Loopback, 0);
                first.Start();
                listeners.Add(first);
                var port = ((IPEndPoint)first.LocalEndpoint).Port;
                if (port + count - 1 > IPEndPoint.MaxPort)
                {
                    continue;
                }

                for (var i = 1; i < count; i++)
                {
                    var next = new TcpListener(IPAddress.Loopback, port + i);
                    next.Start();
                    listeners.Add(next);
                }

                return port;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                // A following port is taken; let the kernel pick another first one.
            }
            finally
            {
                foreach (var listener in listeners)
                {
                    listener.Stop();
                }
            }
        }

        throw new DemoFailure($"found no {count} consecutive free loopback ports in {FreePortAttemptsMax} tries; choose them with --base-port");
    }
}
