using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using RaftHead.Consensus.Tests.Protos;
using RaftHead.Protocol.Client;

namespace RaftHead.Compare;

/// <summary>
/// Three of our Raft nodes as processes: the Consensus test assembly run as <c>dotnet RaftHead.Consensus.Tests.dll raft-node ...</c>
/// (write-ahead log with fsync on, in-memory key-value state machine, control API and Raft transport on one port).
/// With <c>dotNextDll</c>, three DotNext nodes instead (<c>bench/compare/DotNextNode</c>: the same control API and
/// key-value store on DotNext.Net.Cluster's Raft, TCP transport on a second port), driven the same way.
/// </summary>
internal sealed class OurCluster : IClusterUnderTest
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StatusTimeout = TimeSpan.FromMilliseconds(500);
    private readonly string _nodeDll;
    private readonly string _root;
    private readonly int _tickMs;
    private readonly int _electionTicks;
    private readonly int _heartbeatTicks;
    private readonly long _snapshotEntries;
    private readonly Dictionary<int, int> _ports;
    private readonly Dictionary<int, ChildProcess> _nodes = new();
    private readonly Dictionary<int, GrpcChannel> _channels;
    private readonly Dictionary<int, Control.ControlClient> _clients;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly bool _stageClock;
    private readonly string? _dotNextDll;
    private readonly Dictionary<int, int> _raftPorts = new();

    private OurCluster(string name, string nodeDll, string root, int tickMs, int electionTicks, int heartbeatTicks, long snapshotEntries, IReadOnlyDictionary<string, string> environment, bool stageClock, string? dotNextDll)
    {
        _stageClock = stageClock;
        _dotNextDll = dotNextDll;
        Name = name;
        _environment = environment;
        _nodeDll = nodeDll;
        _root = root;
        _tickMs = tickMs;
        _electionTicks = electionTicks;
        _heartbeatTicks = heartbeatTicks;
        _snapshotEntries = snapshotEntries;
        var ports = FreePorts.Take(3);
        _ports = Members.ToDictionary(m => m, m => ports[m - 1]);
        if (dotNextDll is not null)
        {
            var raftPorts = FreePorts.Take(3);
            foreach (var m in Members) _raftPorts[m] = raftPorts[m - 1];
        }
        // Owned channels without retries: a failover is timed from the first acknowledged put, never a replayed one.
        var settings = new GrpcChannelSettings { RetryAttemptsMax = 1, ConnectTimeoutMs = 500 };
        _channels = Members.ToDictionary(m => m, m => GrpcChannels.Create(GrpcChannels.ParseEndpoint(string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{_ports[m]}")), settings));
        _clients = _channels.ToDictionary(c => c.Key, c => new Control.ControlClient(c.Value));
    }

    public string Name { get; }

    public string Settings => _dotNextDll is not null
        ? string.Create(CultureInfo.InvariantCulture,
            $"DotNext.Net.Cluster 6.12.2 RaftCluster, TCP transport, WriteAheadLog with its defaults (entries flushed when they commit: a follower acknowledges before its flush; no setting changes that), election timeout {_tickMs * _electionTicks}–{2 * _tickMs * _electionTicks} ms, heartbeat at half the lower timeout (its default), pre-vote (built in); SimpleStateMachine snapshot every {_snapshotEntries} entries")
        : string.Create(CultureInfo.InvariantCulture,
        $"tick {_tickMs} ms × {_electionTicks} election ticks: election timeout {_tickMs * _electionTicks}–{2 * _tickMs * _electionTicks} ms randomized, heartbeat every {_heartbeatTicks} tick(s), pre-vote + check-quorum on; WAL fsync on; snapshot every {_snapshotEntries} entries") +
        (_environment.Count == 0 ? "" : "; env " + string.Join(" ", _environment.Select(e => $"{e.Key}={e.Value}"))) +
        (_stageClock ? "; stage clock on (diagnostic: timings per stage in the node logs)" : "");

    public IReadOnlyList<int> Members { get; } = [1, 2, 3];

    public IReadOnlyList<int> ServerPids => _nodes.Values.Where(n => !n.HasExited).Select(n => n.Pid).ToList();

    public static async Task<OurCluster> StartAsync(
        string name, string nodeDll, string root, int tickMs, int electionTicks, int heartbeatTicks, long snapshotEntries, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken, bool stageClock = false, string? dotNextDll = null)
    {
        if (dotNextDll is not null && !File.Exists(dotNextDll)) throw new FileNotFoundException($"DotNext node assembly not found: {dotNextDll}");
        if (!File.Exists(nodeDll)) throw new FileNotFoundException($"node host assembly not found: {nodeDll}");
        Directory.CreateDirectory(root);
        var cluster = new OurCluster(name, nodeDll, root, tickMs, electionTicks, heartbeatTicks, snapshotEntries, environment, stageClock, dotNextDll);
        try
        {
            foreach (var m in cluster.Members) cluster._nodes[m] = cluster.StartNode(m);
            foreach (var node in cluster._nodes.Values) await node.WaitReadyAsync(StartTimeout);
            await LeaderWait.ForAsync(cluster, StartTimeout, cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async Task<int?> FindLeaderAsync(CancellationToken cancellationToken)
    {
        var statuses = await Task.WhenAll(Members.Select(m => StatusAsync(m, cancellationToken)));
        var leader = statuses.Where(s => s is { IsLeader: true }).OrderByDescending(s => s!.Term).FirstOrDefault();
        return leader is null ? null : (int)leader.NodeId;
    }

    public async Task PutAsync(int member, string key, ByteString value, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var command = OurControl.PutCommand(key, value.Span);
        var result = await _clients[member].PutAsync(
            new BytesValue { Value = UnsafeByteOperations.UnsafeWrap(command) },
            deadline: DateTime.UtcNow + timeout,
            cancellationToken: cancellationToken);
        // The state machine answers with the applied index, or "error: ..." for a malformed command.
        if (result.Value.Length == 0 || result.Value[0] == (byte)'e') throw new InvalidOperationException($"put {key} on node {member}: {result.Value.ToStringUtf8()}");
    }

    public void Kill(int member) => _nodes[member].SendKill();

    public Task WaitExitedAsync(int member) => _nodes[member].WaitForExitAsync(TimeSpan.FromSeconds(10));

    public async Task RestartAsync(int member, CancellationToken cancellationToken)
    {
        _nodes[member].Dispose();
        _nodes[member] = StartNode(member);
        await _nodes[member].WaitReadyAsync(StartTimeout);
        // Caught up: it follows a leader and has applied everything that leader had committed when we looked.
        var leader = await LeaderWait.ForAsync(this, StartTimeout, cancellationToken);
        var target = (await StatusAsync(leader, cancellationToken))?.CommitIndex ?? 0;
        await Poll.UntilAsync(
            async () => await StatusAsync(member, cancellationToken) is { } s && s.Leader != 0 && s.AppliedIndex >= target ? s : null,
            StartTimeout,
            TimeSpan.FromMilliseconds(20),
            $"{Name}: node {member} to catch up to {target}",
            cancellationToken);
    }

    public string LogTail(int member) => _nodes.TryGetValue(member, out var n) ? n.Tail() : "";

    public ValueTask DisposeAsync()
    {
        foreach (var node in _nodes.Values) node.Dispose();
        _nodes.Clear();
        foreach (var channel in _channels.Values) channel.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<OurNodeStatus?> StatusAsync(int member, CancellationToken cancellationToken)
    {
        try
        {
            var json = await _clients[member].StatusAsync(new Empty(), deadline: DateTime.UtcNow + StatusTimeout, cancellationToken: cancellationToken);
            return JsonSerializer.Deserialize<OurNodeStatus>(json.Value);
        }
        catch (RpcException)
        {
            return null;
        }
    }

    private ChildProcess StartNode(int member)
    {
        if (_dotNextDll is not null) return StartDotNextNode(member);
        var members = string.Join(",", Members.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m}=127.0.0.1:{_ports[m]}")));
        string[] arguments =
        [
            _nodeDll, "raft-node",
            "--id", member.ToString(CultureInfo.InvariantCulture),
            "--port", _ports[member].ToString(CultureInfo.InvariantCulture),
            "--members", members,
            "--data", Path.Combine(_root, $"node{member}"),
            "--tick-ms", _tickMs.ToString(CultureInfo.InvariantCulture),
            "--election-ticks", _electionTicks.ToString(CultureInfo.InvariantCulture),
            "--heartbeat-ticks", _heartbeatTicks.ToString(CultureInfo.InvariantCulture),
            "--snapshot-entries", _snapshotEntries.ToString(CultureInfo.InvariantCulture),
            .. _stageClock ? (string[])["--stage-clock"] : [],
        ];
        return ChildProcess.Start($"{Name}-node{member}", "dotnet", arguments, Path.Combine(_root, $"node{member}.log"), readyLine: "ready", holdStdin: true, _environment);
    }

    private ChildProcess StartDotNextNode(int member)
    {
        var members = string.Join(",", Members.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m}=127.0.0.1:{_raftPorts[m]}")));
        string[] arguments =
        [
            _dotNextDll!,
            "--id", member.ToString(CultureInfo.InvariantCulture),
            "--port", _ports[member].ToString(CultureInfo.InvariantCulture),
            "--members", members,
            "--data", Path.Combine(_root, $"node{member}"),
            "--election-ms", string.Create(CultureInfo.InvariantCulture, $"{_tickMs * _electionTicks},{2 * _tickMs * _electionTicks}"),
            "--snapshot-entries", _snapshotEntries.ToString(CultureInfo.InvariantCulture),
        ];
        return ChildProcess.Start($"{Name}-node{member}", "dotnet", arguments, Path.Combine(_root, $"node{member}.log"), readyLine: "ready", holdStdin: true, _environment);
    }
}
