using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;

using RaftHead.Testing;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>The driver's snapshots: written off the loop, one at a time, never captured only to be thrown away.</summary>
[Collection(RealTimeCollection.Name)]
public sealed class DriverSnapshotTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Commits_go_on_while_a_snapshot_is_written_and_the_next_one_waits_for_it()
    {
        var wal = WriteAheadLog.Bootstrap(_dir.Path, new ClusterMembership([1]));
        var writing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();
        var writes = 0;
        var store = new KvStateMachine
        {
            OnSnapshotWrite = () =>
            {
                if (Interlocked.Increment(ref writes) != 1) return;
                writing.TrySetResult();
                // Bounded, so a failing test cannot hang the run: a write still held then fails and stops the node.
                if (!release.Wait(Timeout * 3)) throw new TimeoutException("the test never released the snapshot write");
            },
        };
        var driver = Single(wal, store, snapshotEntries: 20);
        driver.Start();
        await Eventually.WaitUntilAsync(() => driver.Status.IsLeader, Timeout, "the single node to lead");

        for (var i = 0; i < 20; i++) await driver.ProposeAsync(KvStateMachine.Put($"k{i}", $"v{i}"), Cts().Token);
        await writing.Task.WaitAsync(Timeout);

        // The first snapshot's write is held: the loop must go on committing and applying regardless.
        for (var i = 20; i < 220; i++) await driver.ProposeAsync(KvStateMachine.Put($"k{i}", $"v{i}"), Cts().Token);
        await driver.ReadAsync(Cts().Token);
        Assert.Equal("v219", store.Get("k219"));
        var held = driver.Status;
        Assert.Equal(0, held.SnapshotIndex);
        Assert.Equal(0, held.SnapshotsTaken);
        // The threshold was crossed ten times over, but the next capture waits for the one in flight.
        Assert.Equal(1, store.Captures);

        release.Set();
        // The held snapshot is compacted, and the next one (of everything applied meanwhile) follows at once.
        await Eventually.WaitUntilAsync(
            () => driver.Status.SnapshotsTaken >= 2 && driver.Status.SnapshotIndex >= held.AppliedIndex,
            Timeout,
            $"a second snapshot at or past {held.AppliedIndex}");
        Assert.Equal(store.Captures, driver.Status.SnapshotsTaken);
        var expected = store.Copy();
        await driver.DisposeAsync();
        wal.Dispose();

        using var reopened = WriteAheadLog.Open(_dir.Path);
        Assert.True(reopened.Snapshot.Index >= held.AppliedIndex);
        var restored = new KvStateMachine();
        await using var again = Single(reopened, restored, snapshotEntries: 20);
        again.Start();
        await Eventually.WaitUntilAsync(() => again.Status.IsLeader, Timeout, "the restarted node to lead");
        await again.ReadAsync(Cts().Token);
        Assert.Equal(expected, restored.Copy());
    }

    [Fact]
    public async Task After_a_restart_no_snapshot_is_captured_until_the_applied_index_passes_the_last_membership_change()
    {
        const int before = 10, after = 30;
        long changeIndex;
        using (var wal = WriteAheadLog.Bootstrap(_dir.Path, new ClusterMembership([1])))
        {
            await using var driver = Single(wal, new KvStateMachine(), snapshotEntries: 1000);
            driver.Start();
            await Eventually.WaitUntilAsync(() => driver.Status.IsLeader, Timeout, "the single node to lead");
            for (var i = 0; i < before; i++) await driver.ProposeAsync(KvStateMachine.Put($"a{i}", "x"), Cts().Token);
            await driver.ChangeMembershipAsync(new MembershipChange(MembershipChangeKind.AddLearner, 2), Cts().Token);
            changeIndex = driver.Status.AppliedIndex;
            for (var i = 0; i < after; i++) await driver.ProposeAsync(KvStateMachine.Put($"b{i}", "y"), Cts().Token);
            Assert.Equal(0, driver.Status.SnapshotsTaken);
        }

        // On restart the core knows the learner at once, so below the change's index it cannot say which membership
        // a snapshot would hold. One committed entry per Ready makes the replay below that index many Readies long,
        // each past the threshold of 3.
        using var reopened = WriteAheadLog.Open(_dir.Path);
        var store = new KvStateMachine();
        var options = Options(snapshotEntries: 3) with { Raft = new RaftConfig { NodeId = 1, ElectionTicks = 3, MaxBatchBytes = 1 } };
        await using var again = new RaftDriver(options, reopened, store, new NullTransport());
        again.Start();
        // Quiet: the replay is over and less than a threshold lies past the last snapshot, so no capture can follow.
        // The status is read before the counter, so a capture in flight at that point shows as one capture too many.
        RaftStatus? quiet = null;
        await Eventually.WaitUntilAsync(
            () =>
            {
                var s = again.Status;
                quiet = s;
                return s.AppliedIndex >= changeIndex + after && s.SnapshotsTaken >= 1 && s.AppliedIndex - s.SnapshotIndex < 3 && store.Captures == s.SnapshotsTaken;
            },
            Timeout,
            "the replay to finish with every capture compacted (a capture thrown away keeps the two counts apart)");
        Assert.True(quiet!.SnapshotIndex >= changeIndex, $"snapshot at {quiet.SnapshotIndex}, membership change at {changeIndex}");
        Assert.Equal(new long[] { 2 }, reopened.Snapshot.Metadata.Membership.Learners);
    }

    private static CancellationTokenSource Cts() => new(Timeout);

    private static RaftDriverOptions Options(long snapshotEntries) => new()
    {
        Raft = new RaftConfig { NodeId = 1, ElectionTicks = 3 },
        TickMs = 10,
        SnapshotThresholdEntries = snapshotEntries,
        RandomSeed = 7,
    };

    private static RaftDriver Single(IRaftStorage storage, IStateMachine stateMachine, long snapshotEntries) =>
        new(Options(snapshotEntries), storage, stateMachine, new NullTransport());
}
