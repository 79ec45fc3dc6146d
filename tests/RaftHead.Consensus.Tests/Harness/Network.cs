using System.Text;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Tests.Harness;

/// <summary>
/// A tiny deterministic harness for scenario tests: cores connected by a message queue the test controls.
/// Verbs read like a story: <see cref="ElectLeader"/>, <see cref="Propose"/>, <see cref="Stabilize"/>,
/// <see cref="Isolate"/>, <see cref="Heal"/>, <see cref="Crash"/>, <see cref="Restart"/>.
/// </summary>
public sealed class Network
{
    private const int MaxDeliveryRounds = 10_000;
    private readonly Dictionary<long, Peer> _peers = new();
    private readonly List<Message> _inFlight = new();
    private readonly HashSet<long> _isolated = new();
    private readonly HashSet<(long From, long To)> _cutLinks = new();
    private readonly Func<long, RaftConfig> _configFor;
    private readonly Random _random;

    public Network(int voters, Func<RaftConfig, RaftConfig>? configure = null, int seed = 1)
    {
        _random = new Random(seed);
        // Check-quorum is off by default, as in etcd's paper tests: its leader lease would make every story
        // tick followers past their lease before an election. Tests of check-quorum turn it on.
        _configFor = id => (configure ?? (c => c))(new RaftConfig { NodeId = id, ElectionTicks = 10, HeartbeatTicks = 1, CheckQuorum = false });
        var membership = new ClusterMembership(Enumerable.Range(1, voters).Select(i => (long)i));
        foreach (var id in membership.Voters) AddPeer(id, new MemoryRaftStorage(membership));
    }

    /// <summary>Drops every message for which it returns true (in addition to partitions).</summary>
    public Func<Message, bool>? DropIf { get; set; }

    /// <summary>Rewrites (or, returning null, drops) messages as they leave their sender.</summary>
    public Func<Message, Message?>? Intercept { get; set; }

    /// <summary>Every message delivered, as text, for stories that assert on traffic.</summary>
    public List<string> Transcript { get; } = new();

    public IReadOnlyCollection<Peer> Peers => _peers.Values;

    public Peer this[long id] => _peers[id];

    public RaftNode Node(long id) => _peers[id].Node;

    public IReadOnlyList<Message> InFlight => _inFlight;

    /// <summary>Adds a node that starts with an empty log and no membership, as a freshly provisioned server.</summary>
    public Peer AddEmptyNode(long id) => AddPeer(id, new MemoryRaftStorage());

    public void Isolate(long id) => _isolated.Add(id);

    public void Cut(long a, long b)
    {
        _cutLinks.Add((a, b));
        _cutLinks.Add((b, a));
    }

    public void CutOneWay(long from, long to) => _cutLinks.Add((from, to));

    public void Heal()
    {
        _isolated.Clear();
        _cutLinks.Clear();
    }

    public void Crash(long id)
    {
        _peers[id].Crashed = true;
        _inFlight.RemoveAll(m => m.To == id || m.From == id);
    }

    /// <summary>Restarts from storage (the harness's storage is durable), with a fresh state machine.</summary>
    public void Restart(long id)
    {
        var peer = _peers[id];
        peer.Crashed = false;
        peer.Applied.Clear();
        peer.Node = new RaftNode(_configFor(id), peer.Storage, new Random(_random.Next()));
        if (peer.Storage.Snapshot.Index > 0) peer.Restore(peer.Storage.Snapshot);
        Flush(id);
    }

    public void Tick(long id, int ticks = 1)
    {
        for (var i = 0; i < ticks; i++)
        {
            _peers[id].Node.Tick();
            Flush(id);
        }
    }

    public void TickAll(int ticks = 1)
    {
        for (var i = 0; i < ticks; i++)
        {
            foreach (var peer in _peers.Values.Where(p => !p.Crashed)) Tick(peer.Id);
        }
    }

    /// <summary>Times out <paramref name="id"/> alone and runs the election to completion.</summary>
    public void Campaign(long id)
    {
        var node = Node(id);
        var startTerm = node.Term;
        var startRole = node.Role;
        for (var i = 0; i < 4 * 10 && node.Role == startRole && node.Term == startTerm; i++) Tick(id);
        Stabilize();
    }

    /// <summary>Campaigns until <paramref name="id"/> leads; a few attempts, since a first pre-vote may only teach it the current term.</summary>
    public long ElectLeader(long id)
    {
        for (var attempt = 0; attempt < 3 && Node(id).Role != RaftRole.Leader; attempt++) Campaign(id);
        if (Node(id).Role != RaftRole.Leader) throw new InvalidOperationException($"Node {id} failed to become leader: {Node(id)}");
        return Node(id).Term;
    }

    public ProposeResult Propose(long id, string value)
    {
        var result = Node(id).Propose(Encoding.UTF8.GetBytes(value));
        Flush(id);
        return result;
    }

    public ProposeResult ProposeChange(long id, MembershipChangeKind kind, long target)
    {
        var result = Node(id).ProposeMembershipChange(new MembershipChange(kind, target));
        Flush(id);
        return result;
    }

    public bool ReadIndex(long id, string context)
    {
        var accepted = Node(id).ReadIndex(Encoding.UTF8.GetBytes(context));
        Flush(id);
        return accepted;
    }

    /// <summary>Delivers messages (and the messages they cause) until the network is quiet.</summary>
    public int Stabilize()
    {
        var delivered = 0;
        foreach (var id in _peers.Keys) Flush(id);
        for (var round = 0; _inFlight.Count > 0; round++)
        {
            if (round >= MaxDeliveryRounds) throw new InvalidOperationException("The network did not quiesce.");
            delivered += DeliverPending();
        }
        return delivered;
    }

    /// <summary>Delivers only the messages currently in flight (one "hop").</summary>
    public int DeliverPending(Func<Message, bool>? which = null)
    {
        var batch = _inFlight.Where(m => which is null || which(m)).ToList();
        foreach (var m in batch) _inFlight.Remove(m);
        foreach (var m in batch)
        {
            var target = _peers.GetValueOrDefault(m.To);
            if (target is null || target.Crashed) continue;
            Transcript.Add(m.ToString());
            target.Node.Step(m);
            Flush(m.To);
        }
        return batch.Count;
    }

    /// <summary>Runs the driver loop for one node: persist, send, apply, advance, report what is persisted.</summary>
    public void Flush(long id)
    {
        var peer = _peers[id];
        if (peer.Crashed) return;
        while (peer.Node.HasReady)
        {
            var ready = peer.Node.GetReady();
            if (ready.Snapshot is not null) peer.Storage.ApplySnapshot(ready.Snapshot);
            peer.Storage.Append(ready.Entries);
            if (ready.HardState is { } hs) peer.Storage.SetHardState(hs);
            foreach (var sent in ready.Messages)
            {
                var m = Intercept is null ? sent : Intercept(sent);
                if (m is not null && !Dropped(m)) _inFlight.Add(m);
            }
            if (ready.Snapshot is not null) peer.Restore(ready.Snapshot);
            foreach (var entry in ready.CommittedEntries) peer.Apply(entry);
            peer.ReadStates.AddRange(ready.ReadStates);
            peer.Node.Advance(ready);
            if (ready.PersistedThrough is { } persisted) peer.Node.ReportPersisted(persisted.Index, persisted.Term);
        }
    }

    public void Compact(long id)
    {
        var peer = _peers[id];
        peer.Node.Compact(peer.Node.Log.Applied, peer.SnapshotData());
    }

    private bool Dropped(Message m) =>
        _isolated.Contains(m.From) || _isolated.Contains(m.To) || _cutLinks.Contains((m.From, m.To)) || (DropIf?.Invoke(m) ?? false);

    private Peer AddPeer(long id, MemoryRaftStorage storage)
    {
        var peer = new Peer(id, new RaftNode(_configFor(id), storage, new Random(_random.Next())), storage);
        _peers[id] = peer;
        return peer;
    }
}
