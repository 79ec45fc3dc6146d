using System.Net;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage.Remote;
using RaftHead.Testing;
using RaftHead.Worker.Peer;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Tests.Peer;

/// <summary>
/// A worker reading inputs through <see cref="PeerFetchingBlobStore"/> into its file cache, with two real peer blob
/// servers on loopback and an in-memory stand-in for the heads.
/// </summary>
public sealed class PeerFetchTests : IAsyncLifetime
{
    private const int Small = 200 * 1024;
    private const int Large = (5 * 1024 * 1024) + 321; // past the in-memory spool: verified in a temp file

    private readonly TempDirectory _root = new("rh-peer-fetch-test-");
    private readonly GrpcChannels _channels = new(HeadConnection.ChannelSettings);
    private readonly FakeLocator _locator = new();
    private readonly CountingHeads _heads = new();
    private FileCache _cacheA = null!;
    private FileCache _cacheB = null!;
    private FileCache _local = null!;
    private PeerBlobServer _peerA = null!;
    private PeerBlobServer _peerB = null!;
    private PeerFetchingBlobStore _store = null!;

    public async Task InitializeAsync()
    {
        _cacheA = new FileCache(_root.Combine("a"));
        _cacheB = new FileCache(_root.Combine("b"));
        _local = new FileCache(_root.Combine("local"));
        _peerA = await PeerBlobServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), _cacheA, null, CancellationToken.None);
        _peerB = await PeerBlobServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), _cacheB, null, CancellationToken.None);
        _store = new PeerFetchingBlobStore(_heads, _locator, _channels, _local, new PeerFetchOptions { PeerFetchMinBytes = 1 });
    }

    public async Task DisposeAsync()
    {
        _store.Dispose();
        _channels.Dispose();
        await _peerA.DisposeAsync();
        await _peerB.DisposeAsync();
        _root.Dispose();
    }

    [Theory]
    [InlineData(Small)]
    [InlineData(Large)]
    public async Task A_blob_only_a_peer_holds_is_fetched_from_that_peer_not_the_heads(int size)
    {
        var (bytes, digest) = Blob(size, 1);
        Hold(_cacheA, digest, bytes);
        _locator.Peers = [_peerA.Endpoint];

        var path = await _local.GetAsync(_store, "", digest, false, CancellationToken.None);

        Assert.NotNull(path);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
        Assert.Equal(1, _store.BlobsFromPeers);
        Assert.Equal(size, _store.BytesFromPeers);
        Assert.Equal(0, _store.BlobsFromHeads);
        Assert.Equal(0, _heads.Reads);
        Assert.Equal(1, _peerA.Reads.BlobsServed);
        Assert.Equal(size, _peerA.Reads.BytesServed);
    }

    [Theory]
    [InlineData(Small)]
    [InlineData(Large)]
    public async Task A_peer_serving_corrupt_bytes_is_caught_and_the_blob_is_read_from_the_next_peer(int size)
    {
        var (bytes, digest) = Blob(size, 2);
        Hold(_cacheA, digest, bytes);
        HoldCorrupt(_cacheB, digest, bytes);
        _locator.Peers = [_peerB.Endpoint, _peerA.Endpoint];

        var path = await _local.GetAsync(_store, "", digest, false, CancellationToken.None);

        Assert.NotNull(path);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
        Assert.Equal(1, _peerB.Reads.ReadsAsked);
        Assert.Equal(1, _store.DigestFailures);
        Assert.True(_store.IsSuspect(_peerB.Endpoint));
        AssertReportedCorrupt(_peerB.Endpoint, digest, Corrupted(bytes));
        Assert.Equal(1, _store.BlobsFromPeers);
        Assert.Equal(1, _peerA.Reads.BlobsServed);
        Assert.Equal(0, _heads.Reads);
        AssertNoStrayFiles(digest);
    }

    [Fact]
    public async Task A_corrupt_only_peer_falls_back_to_the_heads_and_is_skipped_afterwards()
    {
        var (bytes, digest) = Blob(Small, 3);
        HoldCorrupt(_cacheB, digest, bytes);
        _heads.Hold(digest, bytes);
        _locator.Peers = [_peerB.Endpoint];

        var path = await _local.GetAsync(_store, "", digest, false, CancellationToken.None);

        Assert.NotNull(path);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
        Assert.Equal(1, _store.DigestFailures);
        AssertReportedCorrupt(_peerB.Endpoint, digest, Corrupted(bytes));
        Assert.Equal(0, _store.BlobsFromPeers);
        Assert.Equal(1, _store.BlobsFromHeads);
        AssertNoStrayFiles(digest);

        // A second blob the suspect peer is named for goes to the heads without asking it.
        var (other, otherDigest) = Blob(Small, 4);
        Hold(_cacheB, otherDigest, other);
        _heads.Hold(otherDigest, other);
        Assert.NotNull(await _local.GetAsync(_store, "", otherDigest, false, CancellationToken.None));
        Assert.Equal(1, _peerB.Reads.ReadsAsked);
        Assert.Equal(2, _store.BlobsFromHeads);
    }

    [Fact]
    public async Task A_suspect_peer_is_tried_again_once_its_suspicion_has_run_out()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var store = new PeerFetchingBlobStore(_heads, _locator, _channels, _local, new PeerFetchOptions { PeerFetchMinBytes = 1, SuspectMs = 10_000, TimeProvider = time });
        var (bytes, digest) = Blob(Small, 10);
        HoldCorrupt(_cacheB, digest, bytes);
        _heads.Hold(digest, bytes);
        _locator.Peers = [_peerB.Endpoint];
        Assert.NotNull(await _local.GetAsync(store, "", digest, false, CancellationToken.None));
        Assert.True(store.IsSuspect(_peerB.Endpoint));

        time.Advance(TimeSpan.FromMilliseconds(9_999));
        Assert.True(store.IsSuspect(_peerB.Endpoint));
        time.Advance(TimeSpan.FromMilliseconds(2));
        Assert.False(store.IsSuspect(_peerB.Endpoint));

        var (other, otherDigest) = Blob(Small, 11);
        Hold(_cacheB, otherDigest, other);
        Assert.NotNull(await _local.GetAsync(store, "", otherDigest, false, CancellationToken.None));
        Assert.Equal(1, store.BlobsFromPeers);
        Assert.Equal(2, _peerB.Reads.ReadsAsked);
    }

    [Fact]
    public async Task Peer_fetches_beyond_the_bound_wait_for_one_to_end()
    {
        var locator = new GatedLocator();
        using var store = new PeerFetchingBlobStore(_heads, locator, _channels, _local, new PeerFetchOptions { PeerFetchMinBytes = 1, ConcurrentFetchesMax = 2 });
        var reads = new List<Task<string?>>();
        for (var i = 0; i < 5; i++)
        {
            var (bytes, digest) = Blob(Small, 20 + i);
            _heads.Hold(digest, bytes);
            reads.Add(_local.GetAsync(store, "", digest, false, CancellationToken.None));
        }

        await TestServers.EventuallyAsync(() => locator.Waiting == 2, TimeSpan.FromSeconds(10), "two fetches under way");
        Assert.Equal(2, locator.Entered);
        locator.Open.SetResult();
        await Task.WhenAll(reads);
        Assert.All(reads, read => Assert.NotNull(read.Result));
        Assert.Equal(5, locator.Entered);
        Assert.Equal(2, locator.MostAtOnce);
    }

    [Fact]
    public async Task With_no_peer_named_the_heads_serve()
    {
        var (bytes, digest) = Blob(Small, 5);
        Hold(_cacheA, digest, bytes);
        _heads.Hold(digest, bytes);
        _locator.Peers = [];

        var path = await _local.GetAsync(_store, "", digest, false, CancellationToken.None);

        Assert.NotNull(path);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
        Assert.Equal(0, _store.BlobsFromPeers);
        Assert.Equal(1, _store.BlobsFromHeads);
        Assert.Equal(0, _peerA.Reads.BlobsServed);
    }

    [Fact]
    public async Task A_peer_that_lost_the_blob_is_not_suspected_and_the_heads_serve()
    {
        var (bytes, digest) = Blob(Small, 6);
        _heads.Hold(digest, bytes);
        _locator.Peers = [_peerA.Endpoint];

        Assert.NotNull(await _local.GetAsync(_store, "", digest, false, CancellationToken.None));

        Assert.Equal(1, _store.BlobsFromHeads);
        Assert.Equal(0, _store.DigestFailures);
        Assert.Equal(0, _store.PeerErrors);
        Assert.False(_store.IsSuspect(_peerA.Endpoint));
        Assert.Equal(0, _store.CorruptReports.Recorded);
    }

    [Fact]
    public async Task An_unreachable_peer_is_skipped_but_not_reported_corrupt()
    {
        var (bytes, digest) = Blob(Small, 12);
        _heads.Hold(digest, bytes);
        var dead = TestServers.DeadEndpoint();
        _locator.Peers = [dead];

        Assert.NotNull(await _local.GetAsync(_store, "", digest, false, CancellationToken.None));

        Assert.Equal(1, _store.PeerErrors);
        Assert.True(_store.IsSuspect(dead));
        Assert.Equal(0, _store.CorruptReports.Recorded);
        Assert.Equal(0, _store.CorruptReports.PendingCount);
    }

    [Fact]
    public async Task Written_blobs_are_kept_for_peers_and_reported()
    {
        var reports = new BlobReports(_local);
        var writer = new LocalFirstBlobStore(_store, _local, keepMinBytes: 1);
        var (put, putDigest) = Blob(Small, 7);
        var (streamed, streamedDigest) = Blob(Large, 8);

        await writer.PutAsync("", putDigest, put, CancellationToken.None);
        await using (var streaming = writer.BeginWrite("", streamedDigest))
        {
            await streaming.WriteAsync(streamed.AsMemory(0, 1000), CancellationToken.None);
            await streaming.WriteAsync(streamed.AsMemory(1000), CancellationToken.None);
            await streaming.CommitAsync(CancellationToken.None);
        }

        Assert.True(_heads.Holds(putDigest) && _heads.Holds(streamedDigest));
        var batch = new List<Digest>();
        reports.Take(10, batch);
        Assert.Equal(new[] { putDigest, streamedDigest }, batch);

        // Another worker reads the kept output from this one's peer service.
        await using var server = await PeerBlobServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), _local, null, CancellationToken.None);
        var reader = new FileCache(_root.Combine("reader"));
        using var readerStore = new PeerFetchingBlobStore(new CountingHeads(), new FakeLocator { Peers = [server.Endpoint] }, _channels, reader, new PeerFetchOptions { PeerFetchMinBytes = 1 });
        var path = await reader.GetAsync(readerStore, "", streamedDigest, true, CancellationToken.None);
        Assert.NotNull(path);
        Assert.Equal(streamed, await File.ReadAllBytesAsync(path));
        Assert.Equal(1, readerStore.BlobsFromPeers);
    }

    [Fact]
    public async Task The_peer_service_refuses_writes()
    {
        var client = new ByteStream.ByteStreamClient(_channels.For(_peerA.Endpoint));
        using var call = client.Write();
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(new WriteRequest { ResourceName = "uploads/x/blobs/" + Digests.ToResourceString(Digests.Compute([1])), FinishWrite = true, Data = Google.Protobuf.ByteString.CopyFrom(1) });
            await call.ResponseAsync;
        });
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task A_blob_held_in_both_file_modes_is_listed_once_in_a_full_report()
    {
        var (bytes, digest) = Blob(Small, 9);
        Hold(_cacheA, digest, bytes);
        var heads = new CountingHeads();
        heads.Hold(digest, bytes);
        Assert.NotNull(await _cacheA.GetAsync(heads, "", digest, executable: true, CancellationToken.None));
        var reports = new BlobReports(_cacheA);

        reports.ResendAll();

        var batch = new List<Digest>();
        reports.Take(10, batch);
        Assert.Equal(new[] { digest }, batch);
    }

    private static (byte[] Bytes, Digest Digest) Blob(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return (bytes, Digests.FromHash(SHA256.HashData(bytes), size));
    }

    private static void Hold(FileCache cache, Digest digest, byte[] bytes)
    {
        var temp = cache.NewTempPath();
        File.WriteAllBytes(temp, bytes);
        cache.Adopt(temp, digest);
    }

    /// <summary>What a bad disk does to a peer: the blob's file, one byte flipped.</summary>
    private static void HoldCorrupt(FileCache cache, Digest digest, byte[] bytes)
    {
        Hold(cache, digest, Corrupted(bytes));
    }

    private static byte[] Corrupted(byte[] bytes)
    {
        var flipped = (byte[])bytes.Clone();
        flipped[flipped.Length / 2] ^= 0xFF;
        return flipped;
    }

    /// <summary>One report waits for the heads: the peer as dialled, the blob asked for, and what its bytes hashed to.</summary>
    private void AssertReportedCorrupt(string peer, Digest digest, byte[] served)
    {
        var batch = new List<RaftHead.Protocol.V1.CorruptBlobReport>();
        _store.CorruptReports.Take(10, batch);
        var report = Assert.Single(batch);
        Assert.Equal(peer, report.PeerEndpoint);
        Assert.Equal(digest, report.Digest);
        Assert.Equal("the bytes hash to " + Convert.ToHexStringLower(SHA256.HashData(served)), report.Detail);
    }

    /// <summary>Only the verified file is left in the reader's cache: no corrupt copy, no spool.</summary>
    private void AssertNoStrayFiles(Digest digest)
    {
        var files = System.IO.Directory.GetFiles(_root.Combine("local"), "*", SearchOption.AllDirectories);
        Assert.Equal(new[] { _local.PathFor(digest, false) }, files);
    }

    private sealed class FakeLocator : IBlobLocator
    {
        public IReadOnlyList<string> Peers { get; set; } = [];

        public Task<IReadOnlyList<string>> PeersHoldingAsync(Digest digest, CancellationToken cancellationToken) => Task.FromResult(Peers);
    }

    /// <summary>Holds every where-is until opened, counting how many wait at once.</summary>
    private sealed class GatedLocator : IBlobLocator
    {
        private int _waiting;
        private int _entered;
        private int _mostAtOnce;

        public TaskCompletionSource Open { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Waiting => Volatile.Read(ref _waiting);

        public int Entered => Volatile.Read(ref _entered);

        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

        public async Task<IReadOnlyList<string>> PeersHoldingAsync(Digest digest, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _entered);
            var now = Interlocked.Increment(ref _waiting);
            int most;
            while (now > (most = Volatile.Read(ref _mostAtOnce)) && Interlocked.CompareExchange(ref _mostAtOnce, now, most) != most)
            {
            }

            try
            {
                await Open.Task.WaitAsync(cancellationToken);
                return [];
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }
    }
}
