using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;

namespace RaftHead.Storage.Tests;

internal static class TestBlobs
{
    public const int BufferedMaxBytes = 4096;

    public static FasterBlobStoreOptions Options(string directory, long maxBytes = 1L << 30, long segmentBytes = 1L << 20) => new()
    {
        DataDirectory = directory,
        MaxBytes = maxBytes,
        SegmentBytes = segmentBytes,
        BufferedBlobMaxBytes = BufferedMaxBytes,
        IndexBucketCount = 1L << 12,
        IndexMemorySizeBits = 22,
        IndexPageSizeBits = 16,
        CheckpointIntervalMs = 0,
    };

    public static Task<FasterBlobStore> OpenAsync(FasterBlobStoreOptions options) =>
        FasterBlobStore.OpenAsync(options, CancellationToken.None).AsTask();

    public static (byte[] Data, Digest Digest) Make(int seed, int sizeBytes)
    {
        byte[] data = new byte[sizeBytes];
        new Random(seed).NextBytes(data);
        return (data, Digests.Compute(data));
    }

    public static async Task<byte[]?> ReadAllAsync(IBlobStore store, string instance, Digest digest, long offset = 0, long limit = 0)
    {
        Stream? stream = await store.OpenReadAsync(instance, digest, offset, limit, CancellationToken.None);
        if (stream is null)
        {
            return null;
        }

        await using (stream)
        {
            var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            return copy.ToArray();
        }
    }

    public static async Task<List<Digest>> MissingAsync(IBlobStore store, string instance, params Digest[] digests)
    {
        var missing = new List<Digest>();
        await store.FindMissingAsync(instance, digests, missing, CancellationToken.None);
        return missing;
    }

    public static async Task WriteStreamedAsync(IBlobStore store, string instance, Digest digest, byte[] data, int chunkBytes = 1000)
    {
        await using IBlobWriter writer = store.BeginWrite(instance, digest);
        for (int offset = 0; offset < data.Length; offset += chunkBytes)
        {
            await writer.WriteAsync(data.AsMemory(offset, Math.Min(chunkBytes, data.Length - offset)), CancellationToken.None);
        }

        await writer.CommitAsync(CancellationToken.None);
    }
}
