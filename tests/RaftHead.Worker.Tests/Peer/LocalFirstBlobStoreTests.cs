using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using RaftHead.Storage;
using RaftHead.Testing;
using RaftHead.Worker.Peer;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Tests.Peer;

/// <summary><see cref="LocalFirstBlobStore"/>: the worker's own blobs in front of the heads.</summary>
public sealed class LocalFirstBlobStoreTests : IDisposable
{
    private const int KeepMinBytes = 1024;

    private readonly TempDirectory _root = new("rh-local-first-test-");
    private readonly CountingHeads _heads = new();
    private readonly FileCache _cache;
    private readonly LocalFirstBlobStore _store;

    public LocalFirstBlobStoreTests()
    {
        _cache = new FileCache(_root.Combine("cache"));
        _store = new LocalFirstBlobStore(_heads, _cache, KeepMinBytes);
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task A_blob_the_worker_wrote_is_read_back_from_its_cache_without_asking_the_heads()
    {
        var (data, digest) = Blob(KeepMinBytes, 1);
        await _store.PutAsync("", digest, data, CancellationToken.None);

        Assert.True(_heads.Holds(digest));
        Assert.Equal(data, await _store.ReadAllAsync("", digest, CancellationToken.None));
        Assert.Equal(0, _heads.Reads);
        Assert.Equal(1, _store.BlobsLocal);
    }

    [Fact]
    public async Task Small_blobs_and_parts_go_to_the_heads()
    {
        var (small, smallDigest) = Blob(KeepMinBytes - 1, 2);
        var (large, largeDigest) = Blob(KeepMinBytes * 4, 3);
        await _store.PutAsync("", smallDigest, small, CancellationToken.None);
        await _store.PutAsync("", largeDigest, large, CancellationToken.None);

        Assert.False(_cache.Contains(smallDigest));
        Assert.Equal(small, await _store.ReadAllAsync("", smallDigest, CancellationToken.None));
        await using (var part = await _store.OpenReadAsync("", largeDigest, 10, 100, CancellationToken.None))
        {
            Assert.NotNull(part);
        }

        Assert.Equal(2, _heads.Reads);
        Assert.Equal(0, _store.BlobsLocal);
    }

    [Fact]
    public async Task A_write_the_heads_refuse_is_not_kept()
    {
        var (data, digest) = Blob(KeepMinBytes, 4);
        var refusing = new LocalFirstBlobStore(new RefusingHeads(), _cache, KeepMinBytes);

        await Assert.ThrowsAsync<IOException>(() => refusing.PutAsync("", digest, data, CancellationToken.None).AsTask());

        Assert.False(_cache.Contains(digest));
    }

    private static (byte[] Data, Digest Digest) Blob(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return (data, Digests.Compute(data));
    }

    private sealed class RefusingHeads : IBlobStore
    {
        public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
            ValueTask.FromException(new IOException("no head accepted the blob"));

        public IBlobWriter BeginWrite(string instanceName, Digest digest) => throw new NotSupportedException();

        public ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken) => ValueTask.FromResult<Stream?>(null);

        public IDisposable Pin(string instanceName, Digest digest) => new MemoryStream();
    }
}
