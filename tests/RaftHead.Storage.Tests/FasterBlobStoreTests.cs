using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using RaftHead.Testing;
using static RaftHead.Storage.Tests.TestBlobs;

namespace RaftHead.Storage.Tests;

public sealed class FasterBlobStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(BufferedMaxBytes)]
    [InlineData(BufferedMaxBytes + 1)]
    [InlineData(300_000)]
    public async Task PutThenReadReturnsTheBytes(int sizeBytes)
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (byte[] data, Digest digest) = Make(sizeBytes, sizeBytes);

        await store.PutAsync("", digest, data, CancellationToken.None);

        Assert.Empty(await MissingAsync(store, "", digest));
        Assert.Equal(data, await ReadAllAsync(store, "", digest));
        Assert.Equal(1, store.GetStats().Blobs);
        Assert.Equal(sizeBytes, store.GetStats().Bytes);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(300_000)]
    public async Task StreamedWriteThenRead(int sizeBytes)
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (byte[] data, Digest digest) = Make(7, sizeBytes);

        await WriteStreamedAsync(store, "i", digest, data, chunkBytes: 777);

        Assert.Equal(data, await ReadAllAsync(store, "i", digest));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(300_000)]
    public async Task DigestMismatchThrowsAndKeepsNothing(int sizeBytes)
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (byte[] data, Digest digest) = Make(1, sizeBytes);
        (byte[] other, _) = Make(2, sizeBytes);
        long diskBefore = store.GetStats().DiskBytes;

        await Assert.ThrowsAsync<BlobDigestMismatchException>(() => store.PutAsync("", digest, other, CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<BlobDigestMismatchException>(() => store.PutAsync("", digest, data.AsMemory(1), CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<BlobDigestMismatchException>(() => WriteStreamedAsync(store, "", digest, other));
        await Assert.ThrowsAsync<BlobDigestMismatchException>(() => WriteStreamedAsync(store, "", digest, data[..^1]));
        await Assert.ThrowsAsync<BlobDigestMismatchException>(() => WriteStreamedAsync(store, "", digest, [.. data, 0]));

        Assert.Equal([digest], await MissingAsync(store, "", digest));
        Assert.Null(await ReadAllAsync(store, "", digest));
        Assert.Equal(0, store.GetStats().Blobs);
        Assert.Equal(diskBefore, store.GetStats().DiskBytes);
        Assert.Empty(System.IO.Directory.EnumerateFiles(Path.Combine(_dir.Path, "tmp")));
    }

    [Fact]
    public async Task MismatchExceptionNamesWhatWasReceived()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (_, Digest digest) = Make(1, 10);
        byte[] wrong = new byte[10];

        var e = await Assert.ThrowsAsync<BlobDigestMismatchException>(() => store.PutAsync("", digest, wrong, CancellationToken.None).AsTask());

        Assert.Equal(Digests.Compute(wrong).Hash, e.ActualHash);
        Assert.Equal(10, e.ActualSize);
        Assert.Same(digest, e.Expected);
    }

    [Fact]
    public async Task EmptyBlobIsAlwaysPresent()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        Digest empty = Digests.Empty;

        Assert.Empty(await MissingAsync(store, "any", empty));
        Assert.Empty(Assert.IsType<byte[]>(await ReadAllAsync(store, "any", empty)));
        await store.PutAsync("any", empty, ReadOnlyMemory<byte>.Empty, CancellationToken.None);
        await Assert.ThrowsAsync<BlobDigestMismatchException>(() => store.PutAsync("any", empty, new byte[1], CancellationToken.None).AsTask());
        using (store.Pin("any", empty))
        {
        }

        Assert.Equal(0, store.GetStats().Blobs);
    }

    [Fact]
    public async Task ConcurrentWritesOfOneDigestAreStoredOnce()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (byte[] small, Digest smallDigest) = Make(1, 2000);
        (byte[] large, Digest largeDigest) = Make(2, 100_000);
        long diskBefore = store.GetStats().DiskBytes;

        var tasks = new List<Task>();
        for (int i = 0; i < 16; i++)
        {
            tasks.Add(Task.Run(async () => await store.PutAsync("", smallDigest, small, CancellationToken.None)));
            tasks.Add(Task.Run(() => WriteStreamedAsync(store, "", largeDigest, large, 10_000)));
        }

        await Task.WhenAll(tasks);

        BlobStoreStats stats = store.GetStats();
        Assert.Equal(2, stats.Blobs);
        Assert.Equal(small.Length + large.Length, stats.Bytes);
        Assert.Equal(diskBefore + small.Length + large.Length + (2 * 112), stats.DiskBytes);
        Assert.Single(System.IO.Directory.EnumerateFiles(Path.Combine(_dir.Path, "segments"), "*.blob"));
        Assert.Equal(large, await ReadAllAsync(store, "", largeDigest));
    }

    [Theory]
    [InlineData(3000)]
    [InlineData(200_000)]
    public async Task ReadsByOffsetAndLimit(int sizeBytes)
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (byte[] data, Digest digest) = Make(3, sizeBytes);
        await store.PutAsync("", digest, data, CancellationToken.None);

        Assert.Equal(data[100..], await ReadAllAsync(store, "", digest, offset: 100));
        Assert.Equal(data[100..150], await ReadAllAsync(store, "", digest, offset: 100, limit: 50));
        Assert.Equal(data[..10], await ReadAllAsync(store, "", digest, limit: 10));
        Assert.Equal(data[^5..], await ReadAllAsync(store, "", digest, offset: sizeBytes - 5, limit: 1000));
        Assert.Empty(Assert.IsType<byte[]>(await ReadAllAsync(store, "", digest, offset: sizeBytes)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => ReadAllAsync(store, "", digest, offset: sizeBytes + 1));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => ReadAllAsync(store, "", digest, offset: -1));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => ReadAllAsync(store, "", digest, limit: -1));
    }

    [Fact]
    public async Task InstanceNamesAreSeparateNamespaces()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (byte[] data, Digest digest) = Make(4, 500);
        (byte[] large, Digest largeDigest) = Make(5, 50_000);
        await store.PutAsync("a", digest, data, CancellationToken.None);
        await store.PutAsync("a", largeDigest, large, CancellationToken.None);

        Assert.Equal([digest, largeDigest], await MissingAsync(store, "b", digest, largeDigest));
        Assert.Null(await ReadAllAsync(store, "b", digest));
        Assert.Null(await ReadAllAsync(store, "b", largeDigest));
        Assert.Equal(data, await ReadAllAsync(store, "a", digest));

        BlobStoreStats stats = store.GetStats();
        Assert.Equal(2, stats.Instances["a"].Blobs);
        Assert.Equal(0, stats.Instances["b"].Blobs);
    }

    [Fact]
    public async Task FindMissingKeepsRequestOrder()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        var digests = new List<Digest>();
        for (int i = 0; i < 10; i++)
        {
            (byte[] data, Digest digest) = Make(100 + i, 100 + i);
            digests.Add(digest);
            if (i % 3 == 0)
            {
                await store.PutAsync("", digest, data, CancellationToken.None);
            }
        }

        List<Digest> missing = await MissingAsync(store, "", [.. digests]);

        Assert.Equal(digests.Where((_, i) => i % 3 != 0), missing);
    }

    [Fact]
    public async Task WriterDisposedWithoutCommitKeepsNothing()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        (byte[] data, Digest digest) = Make(6, 100_000);
        await using (IBlobWriter writer = store.BeginWrite("", digest))
        {
            await writer.WriteAsync(data.AsMemory(0, 50_000), CancellationToken.None);
            Assert.Equal(50_000, writer.BytesWritten);
        }

        Assert.Equal([digest], await MissingAsync(store, "", digest));
        Assert.Empty(System.IO.Directory.EnumerateFiles(Path.Combine(_dir.Path, "tmp")));
    }

    [Fact]
    public async Task InvalidDigestsAreRejected()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        var bad = new Digest { Hash = "ABC", SizeBytes = 1 };

        await Assert.ThrowsAsync<ArgumentException>(() => MissingAsync(store, "", bad));
        await Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync("", bad, new byte[1], CancellationToken.None).AsTask());
        Assert.Throws<ArgumentException>(() => store.BeginWrite("", bad));
    }
}
