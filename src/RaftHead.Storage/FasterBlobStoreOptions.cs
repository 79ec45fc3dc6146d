using Microsoft.Extensions.Logging;

namespace RaftHead.Storage;

/// <summary>Configuration of a <see cref="FasterBlobStore"/>. Every bound carries its unit in its name.</summary>
public sealed record FasterBlobStoreOptions
{
    /// <summary>Root of the on-disk layout (see README.md): segments/, index/, tmp/.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// Bound on the bytes of segment files on disk. Exceeding it triggers eviction of the oldest segment.
    /// The bound is soft by at most one segment plus what pinned and recently used records occupy.
    /// </summary>
    public long MaxBytes { get; init; } = 64L << 30;

    /// <summary>Size at which the active shared segment is sealed and a new one started; the unit of eviction.</summary>
    public long SegmentBytes { get; init; } = 64L << 20;

    /// <summary>
    /// Blobs up to this size are buffered in memory and appended to the shared segment (group-committed);
    /// larger ones are streamed to a file of their own and never held whole in memory.
    /// </summary>
    public int BufferedBlobMaxBytes { get; init; } = 1 << 20;

    /// <summary>
    /// FASTER hash index buckets (a power of two; 64 bytes each, ~8 entries per bucket before overflow buckets are
    /// added). The whole table is written at every checkpoint, so the default suits about two million blobs without
    /// making checkpoints of a small cache heavy (16 MiB).
    /// </summary>
    public long IndexBucketCount { get; init; } = 1L << 18;

    /// <summary>Log2 of the FASTER log memory; index records are ~100 bytes, keep this above the live entry count.</summary>
    public int IndexMemorySizeBits { get; init; } = 28;

    /// <summary>Log2 of a FASTER log page.</summary>
    public int IndexPageSizeBits { get; init; } = 22;

    /// <summary>Once the on-disk FASTER log grows beyond this, it is compacted before the next checkpoint.</summary>
    public long IndexLogCompactBytes { get; init; } = 1L << 30;

    /// <summary>
    /// Interval between index checkpoints; 0 disables the timer (a checkpoint is still taken on open and
    /// dispose). Shorter means less segment tail to re-scan after a crash.
    /// </summary>
    public int CheckpointIntervalMs { get; init; } = 60_000;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public ILogger? Logger { get; init; }
}
