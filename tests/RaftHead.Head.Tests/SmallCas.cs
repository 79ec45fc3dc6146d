using RaftHead.Storage;

namespace RaftHead.Head.Tests;

/// <summary>The CAS tuning every head test uses: small segments and index, no background checkpoints.</summary>
internal static class SmallCas
{
    public static FasterBlobStoreOptions Options(string dataDirectory, long maxBytes = 1L << 30, long segmentBytes = 1L << 20) => new()
    {
        DataDirectory = dataDirectory,
        MaxBytes = maxBytes,
        SegmentBytes = segmentBytes,
        BufferedBlobMaxBytes = 4096,
        IndexBucketCount = 1L << 12,
        IndexMemorySizeBits = 22,
        IndexPageSizeBits = 16,
        CheckpointIntervalMs = 0,
    };
}
