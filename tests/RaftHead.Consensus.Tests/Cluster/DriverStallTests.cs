using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// A driver whose loop stalls (its storage's sync held on a gate) while its clock runs on and its peers keep talking.
/// Three drivers over an in-memory network, each on its own fake clock: time passes only where a test moves it, so
/// the stalled node's missed ticks and the messages queued behind them are exactly known.
/// </summary>
public sealed class DriverStallTests : IAsyncDisposable
{
    private const int ElectionTicks = 10;
    private const int TickMs = 100;

    // The stall: more than two election timeouts of the stalled node's clock, so stepping its missed ticks before
    // what its peers said crosses two check-quorum rounds (leader) or any randomized election timeout (follower).
    private const int StallTicks = 2 * ElectionTicks + 5;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly MemoryNetwork _network = new();
    private readonly Dictionary<long, Node> _nodes = new();

    public DriverStallTests()
    {
        var membership = new ClusterMembership([1, 2, 3]);
        foreach (var id in new long[] { 1, 2, 3 })
        {
            var clock = new FakeTimeProvider();
            var storage = new GatedStorage(new MemoryRaftStorage(membership));
            var options = new RaftDriverOptions
            {
                Raft = new RaftConfig { NodeId = id, ElectionTicks = ElectionTicks, HeartbeatTicks = 1 },
                TickMs = TickMs,
                TimeProvider = clock,
                RandomSeed = (int)id,
            };
            var driver = new RaftDriver(options, storage, new KvStateMachine(), _network.TransportOf(id));
            _network.Attach(id, driver);
            _nodes[id] = new Node(driver, clock, storage);
        }
        foreach (var node in _nodes.Values) node.Driver.Start();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes.Values) node.Storage.Release();
        foreach (var node in _nodes.Values) await node.Driver.DisposeAsync();
    }

    [Fact]
    public async Task A_leader_whose_loop_stalled_while_its_followers_acknowledged_is_still_leader_in_the_same_term()
    {
        var leader = await ElectNode1Async();
        var term = leader.Driver.Status.Term;

        leader.Storage.Hold();
        var acks2 = _network.Delivered(2, 1, MessageType.AppendResponse);
        var acks3 = _network.Delivered(3, 1, MessageType.AppendResponse);
        var proposal = leader.Driver.ProposeAsync(KvStateMachine.Put("during", "stall"), CancellationToken.None);
        // The leader's appends leave before its own sync, which is where its loop now stands.
        await leader.Storage.SyncHeld.WaitAsync(Timeout);
        await Eventually.WaitUntilAsync(
            () => _network.Delivered(2, 1, MessageType.AppendResponse) > acks2 && _network.Delivered(3, 1, MessageType.AppendResponse) > acks3,
            Timeout, "both followers to acknowledge the entry while the leader is stalled");
        await AdvanceAsync(leader, StallTicks);

        leader.Storage.Release();
        await proposal.WaitAsync(Timeout);
        await Eventually.WaitUntilAsync(() => AllTicksTaken(leader), Timeout, "the leader's loop to take its missed ticks");

        var status = leader.Driver.Status;
        Assert.True(status.IsLeader, $"the stalled leader stepped down: {status}");
        Assert.Equal(term, status.Term);
        Assert.True(leader.Driver.Stats.TicksCollapsed > 0, $"a stall of {StallTicks} ticks should collapse some: {leader.Driver.Stats}");
        // Still a working leader: the next write commits under it.
        await leader.Driver.ProposeAsync(KvStateMachine.Put("after", "stall"), CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal(term, leader.Driver.Status.Term);
    }

    [Fact]
    public async Task A_follower_whose_loop_stalled_while_the_leader_heartbeat_does_not_campaign()
    {
        var leader = await ElectNode1Async();
        var follower = _nodes[2];
        var term = leader.Driver.Status.Term;

        follower.Storage.Hold();
        // Commits with node 3's acknowledgement; node 2 stalls syncing it.
        await leader.Driver.ProposeAsync(KvStateMachine.Put("during", "stall"), CancellationToken.None).WaitAsync(Timeout);
        await follower.Storage.SyncHeld.WaitAsync(Timeout);
        await AdvanceAsync(follower, StallTicks);
        var heartbeatsBefore = _network.Delivered(1, 2, MessageType.Heartbeat);
        await AdvanceAsync(leader, 1);
        await Eventually.WaitUntilAsync(() => _network.Delivered(1, 2, MessageType.Heartbeat) > heartbeatsBefore, Timeout, "the leader's heartbeat to reach the stalled follower");

        follower.Storage.Release();
        await Eventually.WaitUntilAsync(() => AllTicksTaken(follower), Timeout, "the follower's loop to take its missed ticks");
        // A read through the leader: by the time it returns, whatever the round after the stall sent has left.
        await follower.Driver.ReadAsync(CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(0, _network.Sent(2, MessageType.PreVote) + _network.Sent(2, MessageType.Vote));
        Assert.Equal(term, follower.Driver.Status.Term);
        Assert.Equal(1, follower.Driver.Status.Leader);
        Assert.True(follower.Driver.Stats.TicksCollapsed > 0, $"a stall of {StallTicks} ticks should collapse some: {follower.Driver.Stats}");
    }

    /// <summary>Moves only node 1's clock until it campaigns, and waits until it leads with both followers caught up.</summary>
    private async Task<Node> ElectNode1Async()
    {
        var node = _nodes[1];
        for (var i = 0; i < 2 * ElectionTicks && node.Driver.Status.Role == RaftRole.Follower; i++)
        {
            await AdvanceAsync(node, 1);
            await Eventually.WaitUntilAsync(() => AllTicksTaken(node), Timeout, "node 1 to take its tick");
        }
        await Eventually.WaitUntilAsync(() => node.Driver.Status.IsLeader, Timeout, "node 1 to lead");
        await node.Driver.ProposeAsync(KvStateMachine.Put("before", "stall"), CancellationToken.None).WaitAsync(Timeout);
        var last = node.Driver.Status.LastIndex;
        await Eventually.WaitUntilAsync(() => _nodes[2].Driver.Status.LastIndex == last && _nodes[3].Driver.Status.LastIndex == last, Timeout, "both followers to hold the leader's log");
        return node;
    }

    /// <summary>Moves a node's clock tick by tick, each counted by its driver before the next (the timer keeps one tick at most).</summary>
    private static async Task AdvanceAsync(Node node, int ticks)
    {
        for (var i = 0; i < ticks; i++)
        {
            var before = node.Driver.Stats.TicksElapsed;
            node.Clock.Advance(TimeSpan.FromMilliseconds(TickMs));
            await Eventually.WaitUntilAsync(() => node.Driver.Stats.TicksElapsed == before + 1, Timeout, "the driver to count the tick");
        }
    }

    private static bool AllTicksTaken(Node node)
    {
        var stats = node.Driver.Stats;
        return stats.TicksHandled + stats.TicksCollapsed == stats.TicksElapsed;
    }

    private sealed record Node(RaftDriver Driver, FakeTimeProvider Clock, GatedStorage Storage);

    /// <summary>Delivers every message at once to its addressee's driver, counting what it carried.</summary>
    private sealed class MemoryNetwork
    {
        private readonly ConcurrentDictionary<long, RaftDriver> _drivers = new();
        private readonly ConcurrentDictionary<(long From, long To, MessageType Type), long> _delivered = new();
        private readonly ConcurrentDictionary<(long From, MessageType Type), long> _sent = new();

        public void Attach(long id, RaftDriver driver) => _drivers[id] = driver;

        public IRaftTransport TransportOf(long id) => new Transport(this, id);

        public long Delivered(long from, long to, MessageType type) => _delivered.GetValueOrDefault((from, to, type));

        public long Sent(long from, MessageType type) => _sent.GetValueOrDefault((from, type));

        private bool Send(Message message)
        {
            _sent.AddOrUpdate((message.From, message.Type), 1, (_, n) => n + 1);
            if (!_drivers.TryGetValue(message.To, out var driver) || !driver.Deliver(message)) return false;
            _delivered.AddOrUpdate((message.From, message.To, message.Type), 1, (_, n) => n + 1);
            return true;
        }

        private sealed class Transport(MemoryNetwork network, long id) : IRaftTransport
        {
            public bool Send(Message message) => network.Send(message);

            public string? AddressOf(long nodeId) => $"node-{nodeId}.memory:{id}";
        }
    }

    /// <summary>Memory storage whose <see cref="Sync"/> can be held: the loop that calls it stalls there until released.</summary>
    private sealed class GatedStorage(MemoryRaftStorage inner) : IRaftStorage
    {
        private readonly ManualResetEventSlim _open = new(initialState: true);
        private TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes once a sync is waiting at the gate.</summary>
        public Task SyncHeld => Volatile.Read(ref _held).Task;

        public long FirstIndex => inner.FirstIndex;

        public long LastIndex => inner.LastIndex;

        public Snapshot Snapshot => inner.Snapshot;

        public void Hold()
        {
            Volatile.Write(ref _held, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            _open.Reset();
        }

        public void Release() => _open.Set();

        public RaftInitialState InitialState() => inner.InitialState();

        public bool TryGetTerm(long index, out long term) => inner.TryGetTerm(index, out term);

        public IReadOnlyList<LogEntry> Entries(long low, long highExclusive, long maxBytes) => inner.Entries(low, highExclusive, maxBytes);

        public void Append(IReadOnlyList<LogEntry> entries) => inner.Append(entries);

        public void SetHardState(HardState hardState) => inner.SetHardState(hardState);

        public void ApplySnapshot(Snapshot snapshot) => inner.ApplySnapshot(snapshot);

        public void Compact(Snapshot snapshot) => inner.Compact(snapshot);

        public void Sync()
        {
            if (_open.IsSet) return;
            Volatile.Read(ref _held).TrySetResult();
            // Bounded: a test that forgets to release fails with a storage error instead of hanging.
            if (!_open.Wait(TimeSpan.FromSeconds(60))) throw new IOException("the test never released the held sync");
        }
    }
}
