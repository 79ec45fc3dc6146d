using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Testing;
using Xunit.Abstractions;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// Three real drivers over loopback gRPC, the leader flooded by local callers: peer messages and ticks must not
/// wait behind the flood, and what the leader cannot queue is refused at once.
/// </summary>
[Collection(RealTimeCollection.Name)]
public sealed class DriverUnderLoadTests : IAsyncLifetime
{
    private const int Callers = 64;
    private const int CallsInFlightMax = 256;
    private const int CallsPerCallerMax = 100_000;

    // Far below the calls in flight, so refusals are certain. The calls in flight (64 × 256) also exceed what the
    // loop can hold (RaftConfig.MaxUncommittedEntries, 10 000, plus the reads waiting on a round): with a queue
    // that parks callers until there is room, some would always be waiting and it would never have room.
    private const int RequestQueueCapacity = 32;

    // Commits that must happen while the follower is cut off and the flood runs.
    private const int CommitsDuringPartitionMin = 300;

    private const int TickMs = 50;
    private const int ElectionTicks = 10;

    // Each phase of the flood lasts at least two of the longest randomized election timeouts of ticks on the
    // leader: long enough for check-quorum to run twice and for a follower that hears no heartbeat to campaign.
    private const int TicksPerPhaseMin = 2 * 2 * ElectionTicks;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    // No call may take longer than this: it either completes or is refused.
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(10);

    private readonly ITestOutputHelper _output;
    private readonly ILoggerFactory _loggers;
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<long, NodeHostOptions> _options;
    private readonly Dictionary<long, RaftNodeHost> _hosts = new();

    public DriverUnderLoadTests(ITestOutputHelper output)
    {
        _output = output;
        _loggers = TestLoggerFactory.Create(output);
        _options = LoopbackCluster.Options(3, _dir.Path, o => o with
        {
            TickMs = TickMs,
            ElectionTicks = ElectionTicks,
            HeartbeatTicks = 1,
            RequestQueueCapacity = RequestQueueCapacity,
        });
    }

    public async Task InitializeAsync()
    {
        foreach (var id in _options.Keys) _hosts[id] = await RaftNodeHost.StartAsync(_options[id], _loggers, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values) await host.DisposeAsync();
        _hosts.Clear();
        _loggers.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task A_flooded_leader_keeps_committing_and_heartbeating_and_refuses_what_it_cannot_queue_at_once()
    {
        var leader = await LeaderAsync();
        var term = leader.Driver.Status.Term;
        var followers = _hosts.Values.Where(h => h.Id != leader.Id).ToList();
        var cutOff = followers[0];
        var other = followers[1];
        await leader.Driver.ProposeAsync(KvStateMachine.Put("before", "1"), CancellationToken.None).WaitAsync(Timeout);

        // Cut one follower off in both directions; the leader keeps a quorum with the other.
        cutOff.Block(leader.Id, other.Id);
        leader.Block(cutOff.Id);
        other.Block(cutOff.Id);

        var tally = new Tally();
        var clock = Stopwatch.StartNew();
        using var stopFlood = new CancellationTokenSource();
        var flood = Task.WhenAll(Enumerable.Range(0, Callers).Select(c => Task.Run(() => CallerAsync(leader.Driver, c, tally, stopFlood.Token), CancellationToken.None)));
        try
        {
            var commitBefore = leader.Driver.Status.CommitIndex;
            var ticksBefore = leader.Driver.Stats.TicksHandled;
            clock.Restart();
            await WaitDuringFloodAsync(
                () => leader.Driver.Status.CommitIndex >= commitBefore + CommitsDuringPartitionMin
                    && leader.Driver.Stats.TicksHandled >= ticksBefore + TicksPerPhaseMin
                    && cutOff.Driver.Status.Role != RaftRole.Follower,
                flood,
                tally,
                $"{CommitsDuringPartitionMin} commits past {commitBefore} and {TicksPerPhaseMin} ticks past {ticksBefore} on the flooded leader, and node {cutOff.Id} to campaign, while it is cut off");
            _output.WriteLine($"{leader.Driver.Status.CommitIndex - commitBefore} commits during the partition in {clock.ElapsedMilliseconds} ms; {tally}");
            AssertTicksKeptPace(leader, ticksBefore, clock);

            // Heal: heartbeats and appends must reach the follower through the flood, and it catches up.
            cutOff.Heal();
            leader.Heal();
            other.Heal();
            var commitAtHeal = leader.Driver.Status.CommitIndex;
            var ticksAtHeal = leader.Driver.Stats.TicksHandled;
            clock.Restart();
            await WaitDuringFloodAsync(
                () => cutOff.Driver.Status.AppliedIndex >= commitAtHeal
                    && cutOff.Driver.Status.Leader == leader.Id
                    && cutOff.Driver.Status.Role == RaftRole.Follower
                    && leader.Driver.Stats.TicksHandled >= ticksAtHeal + TicksPerPhaseMin,
                flood,
                tally,
                $"node {cutOff.Id} to catch up to {commitAtHeal} and follow leader {leader.Id}, and {TicksPerPhaseMin} ticks past {ticksAtHeal} on the leader, during the flood");
            _output.WriteLine($"node {cutOff.Id} caught up to {commitAtHeal} and {TicksPerPhaseMin} ticks passed in {clock.ElapsedMilliseconds} ms; leader commit now {leader.Driver.Status.CommitIndex}; {tally}");
            AssertTicksKeptPace(leader, ticksAtHeal, clock);
        }
        finally
        {
            await stopFlood.CancelAsync();
            await flood;
        }

        var stats = leader.Driver.Stats;
        _output.WriteLine($"after the flood: {tally}; leader stats {stats}");

        // Peer messages never waited behind the flood: none was dropped anywhere (the peer queue's bound is far
        // above anything three nodes send each other here).
        foreach (var host in _hosts.Values) Assert.Equal(0, host.Driver.Stats.PeerMessagesDropped);

        // Every call completed or was refused; none hung, none saw another leader.
        Assert.Equal(0, tally.Hung);
        Assert.Empty(tally.Unexpected);
        Assert.True(tally.Completed > 0, "some calls should have completed");

        // Refusals of a full queue are immediate and counted, proposals and reads alike.
        Assert.True(tally.Refused > 0, "the flood should have filled the request queue");
        Assert.Equal(0, tally.RefusedLate);
        Assert.Equal(tally.ProposalsRefused, stats.ProposalsRejected);
        Assert.Equal(tally.ReadsRefused, stats.ReadsRejected);

        // No spurious leader change: same leader, same term, everywhere.
        foreach (var host in _hosts.Values)
        {
            Assert.Equal(leader.Id, host.Driver.Status.Leader);
            Assert.Equal(term, host.Driver.Status.Term);
        }

        // And the healed follower holds exactly what the leader does.
        var finalCommit = leader.Driver.Status.CommitIndex;
        await Eventually.WaitUntilAsync(
            () => _hosts.Values.All(h => h.Driver.Status.AppliedIndex >= finalCommit),
            Timeout,
            $"every node to apply up to {finalCommit}");
        Assert.Equal(leader.Store.Copy(), cutOff.Store.Copy());
    }

    /// <summary>
    /// Time on the leader kept up with the wall clock during a phase of the flood. Half is the allowance for a
    /// timer delayed on busy cores (a periodic timer folds the periods it missed into one); a tick dropped per
    /// full queue loses far more.
    /// </summary>
    private void AssertTicksKeptPace(RaftNodeHost leader, long ticksAtStart, Stopwatch phase)
    {
        var ticks = leader.Driver.Stats.TicksHandled - ticksAtStart;
        var expected = phase.ElapsedMilliseconds / TickMs;
        _output.WriteLine($"leader handled {ticks} ticks in {phase.ElapsedMilliseconds} ms (wall clock: {expected})");
        Assert.True(ticks * 2 >= expected, $"the leader handled {ticks} ticks in {phase.ElapsedMilliseconds} ms, expected about {expected}: ticks were lost");
    }

    /// <summary>Waits for <paramref name="condition"/> while the flood still runs; on a timeout, shows every node and the tally.</summary>
    private async Task WaitDuringFloodAsync(Func<bool> condition, Task flood, Tally tally, string what)
    {
        try
        {
            await Eventually.WaitUntilAsync(() => condition() || flood.IsCompleted, Timeout, what);
        }
        catch (TimeoutException)
        {
            foreach (var host in _hosts.Values) _output.WriteLine($"at the timeout: {host.Driver.Status} {host.Driver.Stats}");
            _output.WriteLine($"at the timeout: {tally}");
            throw;
        }
        Assert.False(flood.IsCompleted, $"the flood ended before {what}");
    }

    /// <summary>
    /// One client with up to <see cref="CallsInFlightMax"/> calls in flight (three proposals to one read), each
    /// bounded by <see cref="CallBound"/>, replacing each call as it ends, until stopped or after
    /// <see cref="CallsPerCallerMax"/> calls.
    /// </summary>
    private static async Task CallerAsync(RaftDriver driver, int caller, Tally tally, CancellationToken stop)
    {
        var inFlight = new List<(Task Task, CancellationTokenSource Bound)>(CallsInFlightMax);
        var issued = 0;
        while (true)
        {
            var refusedNow = false;
            while (!stop.IsCancellationRequested && issued < CallsPerCallerMax && inFlight.Count < CallsInFlightMax)
            {
                var bound = new CancellationTokenSource(CallBound);
                var isRead = issued % 4 == 3;
                var task = isRead
                    ? driver.ReadAsync(bound.Token)
                    : driver.ProposeAsync(KvStateMachine.Put($"c{caller}", issued.ToString(System.Globalization.CultureInfo.InvariantCulture)), bound.Token);
                issued++;
                // Fail fast means the call is already over when it returns.
                if (task.IsFaulted && task.Exception!.InnerException is RaftOverloadedException { Reason: RaftOverloadReason.RequestQueueFull })
                {
                    tally.RefusedAtOnce(isRead);
                    bound.Dispose();
                    refusedNow = true;
                    break;
                }
                inFlight.Add((task, bound));
            }
            if (inFlight.Count == 0 && (stop.IsCancellationRequested || issued >= CallsPerCallerMax)) return;
            if (refusedNow)
            {
                // A client told RESOURCE_EXHAUSTED backs off a little before it tries again (64 callers refused
                // in a tight loop would only burn the cores the nodes need).
                await Task.Delay(2, CancellationToken.None);
            }
            else if (inFlight.Count > 0)
            {
                await Task.WhenAny(inFlight.Select(c => c.Task));
            }
            for (var i = inFlight.Count - 1; i >= 0; i--)
            {
                var (task, bound) = inFlight[i];
                if (!task.IsCompleted) continue;
                inFlight.RemoveAt(i);
                bound.Dispose();
                Record(task, tally);
            }
        }
    }

    private static void Record(Task task, Tally tally)
    {
        Debug.Assert(task.IsCompleted);
        switch (task.Exception?.InnerException)
        {
            case null when task.IsCanceled:
                tally.Hang();
                break;
            case null:
                tally.Complete();
                break;
            case RaftOverloadedException { Reason: RaftOverloadReason.RequestQueueFull }:
                tally.RefuseLate();
                break;
            case RaftOverloadedException:
                // The core's own bound on uncommitted entries: back-pressure too, but not a queue refusal.
                tally.Overload();
                break;
            case OperationCanceledException:
                tally.Hang();
                break;
            case var e:
                tally.Unexpected.Add($"{e.GetType().Name}: {e.Message}");
                break;
        }
    }

    private Task<RaftNodeHost> LeaderAsync() =>
        Eventually.WaitAsync(
            () =>
            {
                var leaders = _hosts.Values.Where(h => h.Driver.Status.Role == RaftRole.Leader).ToList();
                if (leaders.Count != 1) return null;
                var leader = leaders[0];
                var term = leader.Driver.Status.Term;
                return _hosts.Values.All(h => h.Driver.Status.Leader == leader.Id && h.Driver.Status.Term == term) ? leader : null;
            },
            Timeout,
            "a leader all nodes agree on");

    private sealed class Tally
    {
        private long _completed;
        private long _proposalsRefused;
        private long _readsRefused;
        private long _refusedLate;
        private long _hung;
        private long _overloaded;

        public long Completed => Interlocked.Read(ref _completed);

        public long ProposalsRefused => Interlocked.Read(ref _proposalsRefused);

        public long ReadsRefused => Interlocked.Read(ref _readsRefused);

        public long Refused => ProposalsRefused + ReadsRefused;

        public long RefusedLate => Interlocked.Read(ref _refusedLate);

        public long Hung => Interlocked.Read(ref _hung);

        public long Overloaded => Interlocked.Read(ref _overloaded);

        public ConcurrentBag<string> Unexpected { get; } = [];

        public void Complete() => Interlocked.Increment(ref _completed);

        public void RefusedAtOnce(bool isRead) => Interlocked.Increment(ref isRead ? ref _readsRefused : ref _proposalsRefused);

        public void RefuseLate() => Interlocked.Increment(ref _refusedLate);

        public void Hang() => Interlocked.Increment(ref _hung);

        public void Overload() => Interlocked.Increment(ref _overloaded);

        public override string ToString() =>
            $"completed {Completed}, refused {ProposalsRefused} proposals + {ReadsRefused} reads at once, refused late {RefusedLate}, uncommitted-entries back-pressure {Overloaded}, hung {Hung}, unexpected {Unexpected.Count}";
    }
}
