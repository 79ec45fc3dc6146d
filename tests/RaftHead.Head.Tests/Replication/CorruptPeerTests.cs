using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Protocol;
using static RaftHead.Head.Tests.Replication.ReplicatedBlobStoreTests;

namespace RaftHead.Head.Tests.Replication;

/// <summary>A peer whose store hands out wrong bytes (here the second head) is never trusted by the head fetching from it.</summary>
public sealed class CorruptPeerTests : IAsyncLifetime
{
    private ReplicationCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await ReplicationCluster.StartAsync(corruptReadsOn: 1);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Wrong_bytes_from_a_peer_are_neither_served_nor_kept()
    {
        var small = Blob(6_000, seed: 20);
        var smallDigest = Digests.Compute(small);
        var large = Blob((2 << 20) + 7, seed: 21);
        var largeDigest = Digests.Compute(large);
        await _cluster.Heads[1].PlantAsync(smallDigest, small);
        await _cluster.Heads[1].PlantAsync(largeDigest, large);

        var read = await _cluster.Heads[0].Rpc.Cas.BatchReadBlobsAsync(new BatchReadBlobsRequest { Digests = { smallDigest } }).ResponseAsync;
        var streamed = await Assert.ThrowsAsync<RpcException>(() => StreamReadAsync(_cluster.Heads[0], largeDigest));

        Assert.Equal((int)StatusCode.NotFound, read.Responses[0].Status.Code);
        Assert.Equal(StatusCode.NotFound, streamed.StatusCode);
        Assert.False(await _cluster.Heads[0].Local.HoldsAsync(smallDigest), "wrong bytes are not stored");
        Assert.False(await _cluster.Heads[0].Local.HoldsAsync(largeDigest), "wrong bytes are not stored");
    }

    [Fact]
    public async Task A_blob_on_a_corrupt_peer_and_a_sound_one_is_fetched_right()
    {
        var data = Blob((2 << 20) + 9, seed: 22);
        var digest = Digests.Compute(data);
        await _cluster.Heads[1].PlantAsync(digest, data);
        await _cluster.Heads[2].PlantAsync(digest, data);

        Assert.Equal(data, await StreamReadAsync(_cluster.Heads[0], digest));
        Assert.True(await _cluster.Heads[0].Local.HoldsAsync(digest));
    }
}
