using System.Text;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;

using RaftHead.Testing;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>The driver alone: one node (it elects itself) or a node whose peers never answer.</summary>
[Collection(RealTimeCollection.Name)]
public sealed class RaftDriverTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_single_node_commits_concurrent_proposals_with_group_commit_snapshots_and_restarts_from_its_log()
    {
        var wal = WriteAheadLog.Bootstrap(_dir.Path, new ClusterMembership([1]));
        var store = new KvStateMachine();
        var driver = Single(wal, store, snapshotEntries: 50);
        driver.Start();
        await Eventually.WaitUntilAsync(() => driver.Status.IsLeader, Timeout, "the single node to lead");
        var flushesBefore = wal.FlushCount;

        const int proposals = 400;
        var results = await Task.WhenAll(Enumerable.Range(0, proposals).Select(i => driver.ProposeAsync(KvStateMachine.Put($"k{i}", $"v{i}"), Cts().Token)));
        var indexes = results.Select(r => long.Parse(Encoding.UTF8.GetString(r), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(proposals, indexes.Distinct().Count());
        var flushes = wal.FlushCount - flushesBefore;
        Assert.True(flushes < proposals / 2, $"{flushes} flushes for {proposals} concurrent proposals: expected group commit");

        await driver.ReadAsync(Cts().Token);
        Assert.Equal("v399", store.Get("k399"));
        // Snapshots are written off the loop: the last one may still be in flight when the read returns.
        await Eventually.WaitUntilAsync(() => driver.Status.SnapshotsTaken >= 1 && driver.Status.SnapshotIndex >= 350, Timeout, "a snapshot at or past 350");
        var expected = store.Copy();
        await driver.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => driver.ProposeAsync(new byte[] { 1 }, Cts().Token));
        wal.Dispose();

        // Restart: the snapshot restores most of the state, the log replays the rest.
        using var reopened = WriteAheadLog.Open(_dir.Path);
        var restored = new KvStateMachine();
        await using var again = Single(reopened, restored, snapshotEntries: 50);
        again.Start();
        await Eventually.WaitUntilAsync(() => again.Status.IsLeader, Timeout, "the restarted node to lead");
        await again.ReadAsync(Cts().Token);
        Assert.Equal(expected, restored.Copy());
        Assert.True(restored.AppliedCount < proposals, "the snapshot should have spared re-applying most commands");
    }

    [Fact]
    public async Task Without_a_leader_proposals_fail_with_a_hint_and_reads_wait_until_cancelled_or_stopped()
    {
        using var wal = WriteAheadLog.Bootstrap(_dir.Path, new ClusterMembership([1, 2, 3]));
        var transport = new NullTransport();
        var driver = new RaftDriver(Options(1, snapshotEntries: 1000), wal, new KvStateMachine(), transport);
        driver.Start();

        var refused = await Assert.ThrowsAsync<NotLeaderException>(() => driver.ProposeAsync(KvStateMachine.Put("a", "b"), Cts().Token));
        Assert.Equal(0, refused.LeaderId);
        Assert.Null(refused.LeaderAddress);

        using (var shortWait = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => driver.ReadAsync(shortWait.Token));
        }

        var pending = driver.ReadAsync(Cts().Token);
        Assert.False(await driver.TransferLeadershipAsync(2, Cts().Token));
        await Eventually.WaitUntilAsync(() => transport.Sent > 0, Timeout, "pre-votes to be sent");
        await driver.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending);
        Assert.True(driver.Completion.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_state_machine_that_throws_stops_the_node_and_fails_what_is_pending()
    {
        using var wal = WriteAheadLog.Bootstrap(_dir.Path, new ClusterMembership([1]));
        var driver = Single(wal, new ThrowingStateMachine(), snapshotEntries: 1000);
        driver.Start();
        await Eventually.WaitUntilAsync(() => driver.Status.IsLeader, Timeout, "the single node to lead");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => driver.ProposeAsync(new byte[] { 1 }, Cts().Token));
        Assert.Contains("failed and stopped", error.Message);
        await Assert.ThrowsAsync<InvalidOperationException>(() => driver.Completion);
        await Assert.ThrowsAnyAsync<Exception>(() => driver.ProposeAsync(new byte[] { 1 }, Cts().Token));
        await driver.DisposeAsync();
    }

    [Fact]
    public async Task Empty_and_oversized_commands_are_refused_up_front()
    {
        using var wal = WriteAheadLog.Bootstrap(_dir.Path, new ClusterMembership([1]));
        await using var driver = Single(wal, new KvStateMachine(), snapshotEntries: 1000);
        driver.Start();
        await Assert.ThrowsAsync<ArgumentException>(() => driver.ProposeAsync(ReadOnlyMemory<byte>.Empty, Cts().Token));
        await Assert.ThrowsAsync<ArgumentException>(() => driver.ProposeAsync(new byte[(1024 * 1024) + 1], Cts().Token));
    }

    private static CancellationTokenSource Cts() => new(Timeout);

    private static RaftDriverOptions Options(long id, long snapshotEntries) => new()
    {
        Raft = new RaftConfig { NodeId = id, ElectionTicks = 3 },
        TickMs = 10,
        SnapshotThresholdEntries = snapshotEntries,
        RandomSeed = 7,
    };

    private static RaftDriver Single(IRaftStorage storage, IStateMachine stateMachine, long snapshotEntries) =>
        new(Options(1, snapshotEntries), storage, stateMachine, new NullTransport());

    private sealed class ThrowingStateMachine : IStateMachine
    {
        public byte[] Apply(long index, ReadOnlyMemory<byte> command) => throw new InvalidDataException("a bug in the state machine");

        public IStateMachineSnapshot CaptureSnapshot() => throw new InvalidOperationException("never reached: nothing applies");

        public void Restore(ReadOnlyMemory<byte> snapshot)
        {
        }
    }
}
