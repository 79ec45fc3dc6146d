using Build.Bazel.Remote.Execution.V2;
using RaftHead.Testing;
using static RaftHead.Storage.Tests.TestBlobs;

namespace RaftHead.Storage.Tests;

/// <summary>
/// MaxBytes 256 KiB, 16 KiB segments, ~1 KiB blobs. The documented bound: a blob refreshed (FindMissing,
/// read, re-upload) survives at least MaxBytes - SegmentBytes - pinned bytes of data written after it.
/// </summary>
public sealed class EvictionTests : IDisposable
{
    private const long MaxBytes = 256 << 10;
    private const long SegmentBytes = 16 << 10;
    private const int BlobBytes = 1000;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task DiskStaysWithinBoundAndOldestGoFirst()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path, MaxBytes, SegmentBytes));
        List<Digest> digests = await WriteAsync(store, 0, 1000);

        BlobStoreStats stats = store.GetStats();
        Assert.True(stats.DiskBytes <= MaxBytes + SegmentBytes, $"disk {stats.DiskBytes}");
        Assert.True(stats.Evictions > 700, $"evictions {stats.Evictions}");
        Assert.Equal(1000 - stats.Evictions, stats.Blobs);
        Assert.Equal(digests[..100], await MissingAsync(store, "", [.. digests[..100]]));
        Assert.Empty(await MissingAsync(store, "", [.. digests[^100..]]));
        long segmentFileBytes = System.IO.Directory.EnumerateFiles(Path.Combine(_dir.Path, "segments")).Sum(f => new FileInfo(f).Length);
        Assert.Equal(stats.DiskBytes, segmentFileBytes);
    }

    [Fact]
    public async Task PinnedBlobsAreNeverEvicted()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path, MaxBytes, SegmentBytes));
        (byte[] small, Digest smallDigest) = Make(-1, BlobBytes);
        (byte[] large, Digest largeDigest) = Make(-2, 20_000);
        using IDisposable smallPin = store.Pin("", smallDigest);
        using IDisposable largePin = store.Pin("", largeDigest);
        await store.PutAsync("", smallDigest, small, CancellationToken.None);
        await store.PutAsync("", largeDigest, large, CancellationToken.None);

        await WriteAsync(store, 0, 1500);

        Assert.True(store.GetStats().Evictions > 1000);
        Assert.Equal(small, await ReadAllAsync(store, "", smallDigest));
        Assert.Equal(large, await ReadAllAsync(store, "", largeDigest));
    }

    [Fact]
    public async Task UnpinnedBlobIsEvictedAgain()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path, MaxBytes, SegmentBytes));
        (byte[] small, Digest smallDigest) = Make(-1, BlobBytes);
        IDisposable pin = store.Pin("", smallDigest);
        await store.PutAsync("", smallDigest, small, CancellationToken.None);
        pin.Dispose();
        pin.Dispose(); // idempotent

        await WriteAsync(store, 0, 1500);

        Assert.Equal([smallDigest], await MissingAsync(store, "", smallDigest));
    }

    [Fact]
    public async Task BlobsRefreshedByFindMissingOutliveAFlood()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path, MaxBytes, SegmentBytes));
        List<Digest> first = await WriteAsync(store, 0, 200);

        // A client asks; the store says these are present...
        Digest[] refreshed = [.. first.Take(20)];
        Assert.Empty(await MissingAsync(store, "", refreshed));

        // ...then other clients write less than MaxBytes - SegmentBytes before it comes back for them.
        long floodBytes = MaxBytes - (2 * SegmentBytes);
        await WriteAsync(store, 10_000, (int)(floodBytes / (BlobBytes + 112)));

        Assert.True(store.GetStats().Evictions > 50, $"evictions {store.GetStats().Evictions}");
        Assert.Empty(await MissingAsync(store, "", refreshed));
        Assert.NotEmpty(await MissingAsync(store, "", [.. first.Skip(20).Take(50)]));
        foreach (Digest digest in refreshed)
        {
            Assert.NotNull(await ReadAllAsync(store, "", digest));
        }
    }

    [Fact]
    public async Task RecentlyReadLargeBlobIsKeptByRenaming()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path, MaxBytes, SegmentBytes));
        (byte[] large, Digest largeDigest) = Make(-3, 30_000);
        await store.PutAsync("", largeDigest, large, CancellationToken.None);
        await WriteAsync(store, 0, 150);

        Assert.Equal(large, await ReadAllAsync(store, "", largeDigest)); // refresh
        await WriteAsync(store, 10_000, 150);

        Assert.Equal(large, await ReadAllAsync(store, "", largeDigest));
        Assert.True(store.GetStats().Evictions > 0);
    }

    private static async Task<List<Digest>> WriteAsync(FasterBlobStore store, int firstSeed, int count)
    {
        var digests = new List<Digest>(count);
        for (int i = 0; i < count; i++)
        {
            (byte[] data, Digest digest) = Make(firstSeed + i, BlobBytes);
            await store.PutAsync("", digest, data, CancellationToken.None);
            digests.Add(digest);
        }

        return digests;
    }
}
