using System.Collections.Concurrent;
using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using RaftHead.Compare.Etcd;
using RaftHead.Protocol.Client;

namespace RaftHead.Compare;

/// <summary>
/// Three etcd members (Debian's etcd-server) on loopback: distinct client and peer ports, data directories under the
/// run's temp directory, default durability (fsync on every Ready). Loaded over its gRPC KV API.
/// </summary>
internal sealed class EtcdCluster : IClusterUnderTest
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StatusTimeout = TimeSpan.FromMilliseconds(500);
    private readonly string _etcd;
    private readonly string _root;
    private readonly int _heartbeatMs;
    private readonly int _electionMs;
    private readonly bool _preVote;
    private readonly Dictionary<int, int> _clientPorts;
    private readonly Dictionary<int, int> _peerPorts;
    private readonly Dictionary<int, ChildProcess> _members = new();
    private readonly Dictionary<int, GrpcChannel> _channels;
    private readonly Dictionary<int, KV.KVClient> _kv;
    private readonly Dictionary<int, Maintenance.MaintenanceClient> _maintenance;
    private readonly ConcurrentDictionary<int, ulong> _memberIds = new();

    private EtcdCluster(string name, string etcd, string root, int heartbeatMs, int electionMs, bool preVote)
    {
        Name = name;
        _etcd = etcd;
        _root = root;
        _heartbeatMs = heartbeatMs;
        _electionMs = electionMs;
        _preVote = preVote;
        var ports = FreePorts.Take(6);
        _clientPorts = Members.ToDictionary(m => m, m => ports[m - 1]);
        _peerPorts = Members.ToDictionary(m => m, m => ports[m + 2]);
        // Owned channels without retries: a failover is timed from the first acknowledged put, never a replayed one.
        var settings = new GrpcChannelSettings { RetryAttemptsMax = 1, ConnectTimeoutMs = 500 };
        _channels = Members.ToDictionary(m => m, m => GrpcChannels.Create(GrpcChannels.ParseEndpoint(string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{_clientPorts[m]}")), settings));
        _kv = _channels.ToDictionary(c => c.Key, c => new KV.KVClient(c.Value));
        _maintenance = _channels.ToDictionary(c => c.Key, c => new Maintenance.MaintenanceClient(c.Value));
    }

    public string Name { get; }

    public string Settings => string.Create(CultureInfo.InvariantCulture,
        $"--heartbeat-interval {_heartbeatMs} --election-timeout {_electionMs} (randomized {_electionMs}–{2 * _electionMs} ms), --pre-vote={(_preVote ? "true" : "false")}, check-quorum on (always in etcd); fsync on (default); --snapshot-count 100000 (default)");

    public IReadOnlyList<int> Members { get; } = [1, 2, 3];

    public IReadOnlyList<int> ServerPids => _members.Values.Where(m => !m.HasExited).Select(m => m.Pid).ToList();

    public static async Task<EtcdCluster> StartAsync(string name, string etcd, string root, int heartbeatMs, int electionMs, bool preVote, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(root);
        var cluster = new EtcdCluster(name, etcd, root, heartbeatMs, electionMs, preVote);
        try
        {
            foreach (var m in cluster.Members) cluster._members[m] = cluster.StartMember(m);
            foreach (var m in cluster.Members)
            {
                await Poll.UntilAsync(() => cluster.StatusAsync(m, cancellationToken), StartTimeout, TimeSpan.FromMilliseconds(50), $"{name}: member {m} to answer Status", cancellationToken);
            }
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
        var statuses = await Task.WhenAll(Members.Select(async m => (Member: m, Status: await StatusAsync(m, cancellationToken))));
        var newest = statuses.Where(s => s.Status is { Leader: not 0 }).OrderByDescending(s => s.Status!.RaftTerm).FirstOrDefault();
        if (newest.Status is null) return null;
        // The member named leader must itself be alive and answering (a dead leader is still named for a while).
        var leader = statuses.FirstOrDefault(s => s.Status is not null && _memberIds.TryGetValue(s.Member, out var id) && id == newest.Status.Leader);
        return leader.Status is null ? null : leader.Member;
    }

    public async Task PutAsync(int member, string key, ByteString value, TimeSpan timeout, CancellationToken cancellationToken) =>
        await _kv[member].PutAsync(
            new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = value },
            deadline: DateTime.UtcNow + timeout,
            cancellationToken: cancellationToken);

    public void Kill(int member) => _members[member].SendKill();

    public Task WaitExitedAsync(int member) => _members[member].WaitForExitAsync(TimeSpan.FromSeconds(10));

    public async Task RestartAsync(int member, CancellationToken cancellationToken)
    {
        _members[member].Dispose();
        _members[member] = StartMember(member);
        var leader = await LeaderWait.ForAsync(this, StartTimeout, cancellationToken);
        var target = (await StatusAsync(leader, cancellationToken))?.RaftIndex ?? 0;
        await Poll.UntilAsync(
            async () => await StatusAsync(member, cancellationToken) is { } s && s.Leader != 0 && s.RaftAppliedIndex >= target ? s : null,
            StartTimeout,
            TimeSpan.FromMilliseconds(20),
            $"{Name}: member {member} to catch up to {target}",
            cancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        foreach (var member in _members.Values) member.Dispose();
        _members.Clear();
        foreach (var channel in _channels.Values) channel.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<StatusResponse?> StatusAsync(int member, CancellationToken cancellationToken)
    {
        try
        {
            var status = await _maintenance[member].StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow + StatusTimeout, cancellationToken: cancellationToken);
            if (status.Header is { MemberId: not 0 } header) _memberIds[member] = header.MemberId;
            return status;
        }
        catch (RpcException)
        {
            return null;
        }
    }

    private ChildProcess StartMember(int member)
    {
        string Peer(int m) => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{_peerPorts[m]}");
        string Client(int m) => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{_clientPorts[m]}");
        string[] arguments =
        [
            "--name", $"e{member}",
            "--data-dir", Path.Combine(_root, $"e{member}"),
            "--listen-client-urls", Client(member),
            "--advertise-client-urls", Client(member),
            "--listen-peer-urls", Peer(member),
            "--initial-advertise-peer-urls", Peer(member),
            "--initial-cluster", string.Join(",", Members.Select(m => $"e{m}={Peer(m)}")),
            "--initial-cluster-token", "rafthead-compare",
            "--initial-cluster-state", "new",     // ignored on a restart: the data directory already names the cluster
            "--heartbeat-interval", _heartbeatMs.ToString(CultureInfo.InvariantCulture),
            "--election-timeout", _electionMs.ToString(CultureInfo.InvariantCulture),
            $"--pre-vote={(_preVote ? "true" : "false")}",
            "--logger", "zap",
            "--log-level", "warn",
        ];
        return ChildProcess.Start($"{Name}-e{member}", _etcd, arguments, Path.Combine(_root, $"e{member}.log"), readyLine: null, holdStdin: false);
    }
}
