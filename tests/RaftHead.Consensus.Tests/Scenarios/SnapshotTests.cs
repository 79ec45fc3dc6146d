using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Replication;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>Paper §7: log compaction and InstallSnapshot, sent in chunks.</summary>
public sealed class SnapshotTests
{
    [Fact]
    public void A_follower_behind_the_compaction_point_receives_the_snapshot_in_chunks()
    {
        var net = new Network(3, c => c with { SnapshotChunkBytes = 8 });
        net.ElectLeader(1);
        net.Isolate(3);
        for (var i = 0; i < 10; i++) net.Propose(1, $"value-{i}");
        net.Stabilize();
        net.Compact(1);
        Assert.True(net.Node(1).Log.FirstIndex > 2);

        net.Heal();
        for (var i = 0; i < 3; i++)
        {
            net.Tick(1);
            net.Stabilize();
        }
        Assert.Equal(net[1].Applied, net[3].Applied);
        Assert.Equal(10, net[3].Applied.Count);
        var chunks = net.Transcript.Count(t => t.StartsWith("SnapshotChunk 1->3", StringComparison.Ordinal));
        Assert.True(chunks > 5, $"expected many 8-byte chunks, saw {chunks}");
        Assert.Equal(ProgressState.Replicate, net.Node(1).ProgressOf(3)!.State);

        // Replication continues normally after the snapshot.
        net.Propose(1, "after");
        net.Stabilize();
        Assert.Equal("after", net[3].Applied[^1]);
    }

    [Fact]
    public void Lost_chunks_are_resent_on_the_next_heartbeat()
    {
        var net = new Network(3, c => c with { SnapshotChunkBytes = 8 });
        net.ElectLeader(1);
        net.Isolate(3);
        for (var i = 0; i < 10; i++) net.Propose(1, $"value-{i}");
        net.Stabilize();
        net.Compact(1);
        net.Heal();

        var dropped = 0;
        net.DropIf = m => m.Type == MessageType.SnapshotChunk && m.ChunkOffset > 0 && m.ChunkOffset % 24 == 0 && dropped++ < 3;
        for (var i = 0; i < 20 && net[3].Applied.Count < 10; i++)
        {
            net.Tick(1);
            net.Stabilize();
        }
        Assert.True(dropped > 0);
        Assert.Equal(net[1].Applied, net[3].Applied);
    }

    [Fact]
    public void A_restarted_node_rebuilds_from_its_snapshot_and_the_entries_after_it()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        for (var i = 0; i < 5; i++) net.Propose(1, $"a{i}");
        net.Stabilize();
        net.Compact(2);
        net.Propose(1, "b");
        net.Stabilize();
        net.Tick(1);
        net.Stabilize();

        net.Crash(2);
        net.Restart(2);
        Assert.Equal(net[1].Applied, net[2].Applied);
    }

    [Fact]
    public void A_snapshot_still_being_written_when_the_leader_installs_a_newer_one_is_not_recorded()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        for (var i = 0; i < 3; i++) net.Propose(1, $"a{i}");
        net.Stabilize();
        // Follower 3 captures its state; the write then takes a while.
        var follower = net.Node(3);
        var capture = new Snapshot(follower.SnapshotMetadataAt(follower.Log.Applied), net[3].SnapshotData());

        net.Isolate(3);
        for (var i = 0; i < 10; i++) net.Propose(1, $"b{i}");
        net.Stabilize();
        net.Compact(1);
        net.Heal();
        for (var i = 0; i < 3; i++)
        {
            net.Tick(1);
            net.Stabilize();
        }
        var installed = net[3].Storage.Snapshot;
        Assert.True(installed.Index > capture.Index);

        Assert.False(net.Node(3).Compact(capture));
        Assert.Same(installed, net[3].Storage.Snapshot);
        Assert.Equal(net[1].Applied, net[3].Applied);
    }

    [Fact]
    public void After_a_restart_the_log_is_compactable_only_from_the_last_membership_change_in_force()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        for (var i = 0; i < 3; i++) net.Propose(1, $"a{i}");
        net.AddEmptyNode(4);
        var change = net.ProposeChange(1, MembershipChangeKind.AddLearner, 4);
        Assert.True(change.Accepted);
        for (var i = 0; i < 3; i++) net.Propose(1, $"b{i}");
        net.Stabilize();
        net.Crash(2);

        // Restarted on its storage, one committed entry per Ready: the core already knows learner 4.
        var restarted = new RaftNode(new RaftConfig { NodeId = 2, MaxBatchBytes = 1 }, net[2].Storage, new Random(1));
        Assert.Equal(change.Index, restarted.CompactableFrom);
        Assert.Contains(4L, restarted.Membership.Learners);
        while (restarted.Log.Applied < change.Index - 1) restarted.Advance(restarted.GetReady());
        var below = restarted.Log.Applied;
        Assert.False(restarted.Compact(below, new byte[] { 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => restarted.SnapshotMetadataAt(below));

        restarted.Advance(restarted.GetReady());
        Assert.Equal(change.Index, restarted.Log.Applied);
        var metadata = restarted.SnapshotMetadataAt(change.Index);
        Assert.Equal(new long[] { 4 }, metadata.Membership.Learners);
        Assert.True(restarted.Compact(new Snapshot(metadata, new byte[] { 1 })));
        Assert.Equal(change.Index + 1, restarted.Log.FirstIndex);
    }
}
