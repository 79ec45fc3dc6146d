using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Head.Replication;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using RaftHead.Testing;

namespace RaftHead.Head.Tests.Replication;

/// <summary>
/// "A client's blob is acknowledged once stored on two heads; any replica is a full REAPI endpoint": three heads on
/// loopback, written and read through REAPI as a client would.
/// </summary>
public sealed class ReplicatedBlobStoreTests : IAsyncLifetime
{
    private const int ChunkBytes = 256 * 1024;
    private ReplicationCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await ReplicationCluster.StartAsync();

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_batch_upload_is_acknowledged_with_a_second_head_holding_the_blob()
    {
        var data = Blob(10_000, seed: 1);
        var digest = Digests.Compute(data);

        var status = await BatchPutAsync(_cluster.Heads[0], digest, data);

        Assert.Equal((int)StatusCode.OK, status.Code);
        Assert.True(await _cluster.Heads[0].Local.HoldsAsync(digest), "the head written to keeps a copy");
        Assert.Equal(2, await HoldersAsync(digest));
    }

    [Fact]
    public async Task A_large_ByteStream_upload_is_acknowledged_with_a_second_head_holding_the_blob()
    {
        var data = Blob((3 << 20) + 17, seed: 2);
        var digest = Digests.Compute(data);

        var committed = await StreamPutAsync(_cluster.Heads[0], digest, data);

        Assert.Equal(data.Length, committed);
        Assert.Equal(2, await HoldersAsync(digest));
        var peer = _cluster.Heads[1].Local.Writes == 1 ? _cluster.Heads[1] : _cluster.Heads[2];
        Assert.Equal(data, await StreamReadAsync(peer, digest));
    }

    [Fact]
    public async Task With_one_peer_stopped_writes_are_copied_to_the_other()
    {
        await _cluster.Heads[1].Server.StopAsync();

        // Several blobs, so that some start their copies at the stopped peer (the order follows the digest).
        for (var i = 0; i < 6; i++)
        {
            var data = Blob(5_000 + i, seed: 100 + i);
            var digest = Digests.Compute(data);
            Assert.Equal((int)StatusCode.OK, (await BatchPutAsync(_cluster.Heads[0], digest, data)).Code);
            Assert.True(await _cluster.Heads[2].Local.HoldsAsync(digest), $"blob {i} reached the running peer");
        }

        var large = Blob((2 << 20) + 3, seed: 7);
        var largeDigest = Digests.Compute(large);
        Assert.Equal(large.Length, await StreamPutAsync(_cluster.Heads[0], largeDigest, large));
        Assert.True(await _cluster.Heads[2].Local.HoldsAsync(largeDigest));
    }

    [Fact]
    public async Task With_both_peers_stopped_a_write_fails_unavailable_naming_the_peers_and_is_uploaded_again()
    {
        await _cluster.Heads[1].Server.StopAsync();
        await _cluster.Heads[2].Server.StopAsync();
        var small = Blob(4_000, seed: 3);
        var smallDigest = Digests.Compute(small);
        var large = Blob((2 << 20) + 5, seed: 4);
        var largeDigest = Digests.Compute(large);

        var status = await BatchPutAsync(_cluster.Heads[0], smallDigest, small);
        var refused = await Assert.ThrowsAsync<RpcException>(() => StreamPutAsync(_cluster.Heads[0], largeDigest, large));

        Assert.Equal((int)StatusCode.Unavailable, status.Code);
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        foreach (var message in new[] { status.Message, refused.Status.Detail })
        {
            Assert.Contains("stored on 1 of 2 heads", message, StringComparison.Ordinal);
            Assert.Contains(_cluster.Heads[1].Endpoint, message, StringComparison.Ordinal);
            Assert.Contains(_cluster.Heads[2].Endpoint, message, StringComparison.Ordinal);
        }

        // Stored here but not acknowledged: a client asking is told to upload again, which retries the copies.
        var missing = await _cluster.Heads[0].Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { smallDigest, largeDigest } }).ResponseAsync;
        Assert.Equal(new[] { smallDigest, largeDigest }, missing.MissingBlobDigests);
        var retried = await Assert.ThrowsAsync<RpcException>(() => StreamPutAsync(_cluster.Heads[0], largeDigest, large));
        Assert.Equal(StatusCode.Unavailable, retried.StatusCode);
    }

    [Fact]
    public async Task The_empty_blob_is_acknowledged_without_a_copy_even_with_both_peers_stopped()
    {
        await _cluster.Heads[1].Server.StopAsync();
        await _cluster.Heads[2].Server.StopAsync();

        var store = _cluster.Heads[0].Replicated!;
        await store.PutAsync("", Digests.Empty, ReadOnlyMemory<byte>.Empty, CancellationToken.None);
        await using (var writer = store.BeginWrite("", Digests.Empty))
        {
            await writer.CommitAsync(CancellationToken.None);
        }

        Assert.Equal((int)StatusCode.OK, (await BatchPutAsync(_cluster.Heads[0], Digests.Empty, [])).Code);
        var missing = await _cluster.Heads[0].Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { Digests.Empty } }).ResponseAsync;
        Assert.Empty(missing.MissingBlobDigests);
    }

    [Fact]
    public async Task FindMissing_counts_a_blob_only_a_peer_holds_as_present_and_one_no_head_holds_as_missing()
    {
        var onPeer = Blob(5_000, seed: 21);
        var onPeerDigest = Digests.Compute(onPeer);
        var nowhereDigest = Digests.Compute(Blob(5_000, seed: 22));
        var here = Blob(5_000, seed: 23);
        var hereDigest = Digests.Compute(here);
        await _cluster.Heads[2].PlantAsync(onPeerDigest, onPeer);
        await _cluster.Heads[0].PlantAsync(hereDigest, here);

        var missing = await _cluster.Heads[0].Rpc.Cas.FindMissingBlobsAsync(new FindMissingBlobsRequest { BlobDigests = { onPeerDigest, nowhereDigest, hereDigest } }).ResponseAsync;
        Assert.Equal(new[] { nowhereDigest }, missing.MissingBlobDigests);
    }

    [Fact]
    public async Task A_head_lacking_a_blob_fetches_it_from_a_peer_verifies_it_and_keeps_it()
    {
        var small = Blob(9_000, seed: 5);
        var smallDigest = Digests.Compute(small);
        var large = Blob((2 << 20) + 11, seed: 6);
        var largeDigest = Digests.Compute(large);
        await _cluster.Heads[1].PlantAsync(smallDigest, small);
        await _cluster.Heads[2].PlantAsync(largeDigest, large);
        var nowhere = Digests.Compute("on no head"u8);

        var read = await _cluster.Heads[0].Rpc.Cas.BatchReadBlobsAsync(new BatchReadBlobsRequest { Digests = { smallDigest, nowhere } }).ResponseAsync;
        var streamed = await StreamReadAsync(_cluster.Heads[0], largeDigest);

        Assert.Equal((int)StatusCode.OK, read.Responses[0].Status.Code);
        Assert.Equal(small, read.Responses[0].Data.ToByteArray());
        Assert.Equal((int)StatusCode.NotFound, read.Responses[1].Status.Code);
        Assert.Equal(large, streamed);
        Assert.True(await _cluster.Heads[0].Local.HoldsAsync(smallDigest), "the fetched blob is kept for later reads");
        Assert.True(await _cluster.Heads[0].Local.HoldsAsync(largeDigest), "the fetched blob is kept for later reads");
    }

    [Fact]
    public async Task A_replica_copy_is_stored_by_the_peer_alone_and_not_forwarded()
    {
        var small = Blob(3_000, seed: 8);
        var large = Blob((2 << 20) + 1, seed: 9);
        await BatchPutAsync(_cluster.Heads[0], Digests.Compute(small), small);
        await StreamPutAsync(_cluster.Heads[0], Digests.Compute(large), large);

        // Two copies of each blob in all: one on the head written to, one on a peer, and none passed further on.
        Assert.Equal(2, _cluster.Heads[0].Local.Writes);
        Assert.Equal(4, _cluster.TotalWrites);

        // A write marked as a replica copy, sent to a head directly, stays on that head.
        var copy = Blob(2_000, seed: 10);
        var copyDigest = Digests.Compute(copy);
        var before = _cluster.TotalWrites;
        var response = await _cluster.Heads[1].Rpc.Cas.BatchUpdateBlobsAsync(
            new BatchUpdateBlobsRequest { Requests = { new BatchUpdateBlobsRequest.Types.Request { Digest = copyDigest, Data = ByteString.CopyFrom(copy) } } },
            headers: ReplicaCopy.Headers()).ResponseAsync;
        Assert.Equal((int)StatusCode.OK, response.Responses[0].Status.Code);
        Assert.Equal(before + 1, _cluster.TotalWrites);
        Assert.Equal(1, await HoldersAsync(copyDigest));
    }

    [Fact]
    public async Task Without_peers_a_write_is_acknowledged_with_the_local_copy()
    {
        using var data = new TempDirectory("rh-replication-solo-");
        await using var faster = await FasterBlobStore.OpenAsync(new FasterBlobStoreOptions { DataDirectory = data.Path, MaxBytes = 64L << 20, SegmentBytes = 1L << 20, CheckpointIntervalMs = 0 }, CancellationToken.None);
        var local = new ObservedBlobStore(faster);
        using var channels = new GrpcChannels();
        await using var store = new ReplicatedBlobStore(local, [], channels, new ReplicatedBlobStoreOptions(), logger: null);
        var blob = Blob(5_000, seed: 11);
        var digest = Digests.Compute(blob);

        await store.PutAsync("", digest, blob, CancellationToken.None);
        var streamed = Blob(20_000, seed: 12);
        await using (var writer = store.BeginWrite("", Digests.Compute(streamed)))
        {
            await writer.WriteAsync(streamed, CancellationToken.None);
            await writer.CommitAsync(CancellationToken.None);
        }

        Assert.Equal(1, store.CopiesRequired);
        Assert.Equal(2, local.Writes);
        Assert.Equal(streamed, await store.ReadAllAsync("", Digests.Compute(streamed), CancellationToken.None));
        Assert.Null(await store.OpenReadAsync("", Digests.Compute("absent"u8), 0, 0, CancellationToken.None));
    }

    internal static byte[] Blob(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    internal static async Task<Google.Rpc.Status> BatchPutAsync(ReplicationCluster.TestHead head, Digest digest, byte[] data)
    {
        var response = await head.Rpc.Cas.BatchUpdateBlobsAsync(
            new BatchUpdateBlobsRequest { Requests = { new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = ByteString.CopyFrom(data) } } },
            deadline: Deadline()).ResponseAsync;
        return Assert.Single(response.Responses).Status;
    }

    internal static async Task<long> StreamPutAsync(ReplicationCluster.TestHead head, Digest digest, byte[] data)
    {
        using var call = head.Rpc.ByteStream.Write(deadline: Deadline());
        var name = $"uploads/{Guid.NewGuid():N}/blobs/{digest.Hash}/{digest.SizeBytes}";
        for (var offset = 0; offset < data.Length; offset += ChunkBytes)
        {
            var size = Math.Min(ChunkBytes, data.Length - offset);
            await call.RequestStream.WriteAsync(new WriteRequest
            {
                ResourceName = offset == 0 ? name : "",
                WriteOffset = offset,
                Data = ByteString.CopyFrom(data, offset, size),
                FinishWrite = offset + size == data.Length,
            });
        }

        await call.RequestStream.CompleteAsync();
        return (await call.ResponseAsync).CommittedSize;
    }

    internal static async Task<byte[]> StreamReadAsync(ReplicationCluster.TestHead head, Digest digest)
    {
        using var call = head.Rpc.ByteStream.Read(new ReadRequest { ResourceName = $"blobs/{digest.Hash}/{digest.SizeBytes}" }, deadline: Deadline());
        var received = new MemoryStream();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            call.ResponseStream.Current.Data.WriteTo(received);
        }

        return received.ToArray();
    }

    private static DateTime Deadline() => DateTime.UtcNow.AddSeconds(30);

    private async Task<int> HoldersAsync(Digest digest)
    {
        var holders = 0;
        foreach (var head in _cluster.Heads)
        {
            holders += await head.Local.HoldsAsync(digest) ? 1 : 0;
        }

        return holders;
    }
}
