using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>An incoming snapshot is bounded by configuration, not by what the wire claims.</summary>
public sealed class SnapshotBoundTests
{
    private const long GiB = 1024L * 1024 * 1024;

    /// <summary>Generous for stepping one message; far below any buffer of the claimed size.</summary>
    private const long AllocatedBytesMax = 1024 * 1024;

    [Fact]
    public void A_chunk_claiming_8_GiB_is_dropped_and_counted_without_allocating_it()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        var follower = net.Node(3);
        var chunk = Chunk(net, totalBytes: 8 * GiB, offset: 0, data: new byte[8]);

        var before = GC.GetAllocatedBytesForCurrentThread();
        follower.Step(chunk);
        var allocatedBytes = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocatedBytes < AllocatedBytesMax, $"stepping the chunk allocated {allocatedBytes} bytes");
        Assert.Equal(1, follower.SnapshotChunksRejected);
        Assert.False(follower.HasReady && follower.GetReady().Messages.Any(m => m.Type == MessageType.SnapshotChunkResponse));
    }

    [Fact]
    public void A_chunk_above_a_configured_bound_is_dropped_even_when_it_would_fit_in_memory()
    {
        var net = new Network(3, c => c with { SnapshotBytesMax = 64 });
        net.ElectLeader(1);
        var follower = net.Node(3);
        follower.Step(Chunk(net, totalBytes: 65, offset: 0, data: new byte[8]));
        Assert.Equal(1, follower.SnapshotChunksRejected);
    }

    [Fact]
    public void The_buffer_grows_with_the_bytes_received_not_with_the_size_declared()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        var follower = net.Node(3);

        var before = GC.GetAllocatedBytesForCurrentThread();
        follower.Step(Chunk(net, totalBytes: 256L * 1024 * 1024, offset: 0, data: new byte[8]));
        var allocatedBytes = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocatedBytes < AllocatedBytesMax, $"a first chunk of 8 bytes allocated {allocatedBytes} bytes");
        Assert.Equal(0, follower.SnapshotChunksRejected);
    }

    [Fact]
    public void A_chunk_that_would_grow_the_snapshot_past_its_declared_size_is_dropped_and_counted()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        var follower = net.Node(3);
        follower.Step(Chunk(net, totalBytes: 16, offset: 0, data: new byte[8]));
        DrainReady(follower);

        follower.Step(Chunk(net, totalBytes: 16, offset: 8, data: new byte[9]));
        Assert.Equal(1, follower.SnapshotChunksRejected);
        Assert.False(follower.HasReady && follower.GetReady().Messages.Count > 0);

        // The transfer is intact: the right chunk still completes it.
        follower.Step(Chunk(net, totalBytes: 16, offset: 8, data: new byte[8]));
        Assert.True(follower.HasReady);
        var ready = follower.GetReady();
        Assert.NotNull(ready.Snapshot);
        Assert.Equal(16, ready.Snapshot.Data.Length);
    }

    [Fact]
    public void A_leader_snapshot_above_the_follower_bound_is_never_installed_and_the_follower_counts_every_chunk()
    {
        var net = new Network(3, c => c with { SnapshotChunkBytes = 8, SnapshotBytesMax = c.NodeId == 3 ? 8 : c.SnapshotBytesMax });
        net.ElectLeader(1);
        net.Isolate(3);
        for (var i = 0; i < 10; i++) net.Propose(1, $"value-{i}");
        net.Stabilize();
        net.Compact(1);
        net.Heal();
        for (var i = 0; i < 3; i++)
        {
            net.Tick(1);
            net.Stabilize();
        }
        Assert.Empty(net[3].Applied);
        Assert.True(net.Node(3).SnapshotChunksRejected > 0);
        Assert.Equal(10, net[2].Applied.Count);
    }

    private static Message Chunk(Network net, long totalBytes, long offset, byte[] data)
    {
        var leader = net.Node(1);
        return new Message
        {
            Type = MessageType.SnapshotChunk,
            From = 1,
            To = 3,
            Term = leader.Term,
            SnapshotMetadata = new SnapshotMetadata(100, leader.Term, new ClusterMembership([1, 2, 3])),
            ChunkOffset = offset,
            ChunkData = data,
            SnapshotTotalBytes = totalBytes,
        };
    }

    private static void DrainReady(RaftNode node)
    {
        while (node.HasReady) node.Advance(node.GetReady());
    }
}
