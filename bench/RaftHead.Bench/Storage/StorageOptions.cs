namespace RaftHead.Bench.Storage;

/// <summary>Bounds of one <c>storage</c> run; every loop stops at its count or its time, whichever comes first.</summary>
internal sealed record StorageOptions
{
    /// <summary>Length of one measured case (one size, one mode) or one latency round.</summary>
    public double CaseSeconds { get; init; } = 3;

    /// <summary>Latency rounds per side (ours and Redis alternate); figures are medians of rounds.</summary>
    public int Rounds { get; init; } = 3;

    /// <summary>Concurrent callers of the "many callers" latency rounds (the issue asks for 64).</summary>
    public int LatencyCallers { get; init; } = 64;

    /// <summary>Digests per FindMissingBlobs call (the issue asks for batches of 1,000).</summary>
    public int FindMissingBatch { get; init; } = 1_000;

    /// <summary>Distinct tiny blobs stored before the FindMissing and GetActionResult rounds.</summary>
    public int FindMissingPopulation { get; init; } = 100_000;

    /// <summary>Blob counts at which index memory is measured, each in a fresh store.</summary>
    public IReadOnlyList<long> IndexCounts { get; init; } = [1_000_000, 10_000_000];

    /// <summary>Bound on the inserts of one index-memory count; a count not reached in time is reported as reached.</summary>
    public double IndexSecondsMax { get; init; } = 900;

    /// <summary>Writers in flight while filling the index (group commit needs many to amortize an fsync).</summary>
    public int IndexWriters { get; init; } = 256;

    public bool SkipIndexMemory { get; init; }

    public bool SkipRedis { get; init; }

    /// <summary>Where temp directories go (each deleted at the end of its phase).</summary>
    public string TempRoot { get; init; } = Path.GetTempPath();

    /// <summary>A hard stop for the whole run: a hang becomes a cancellation, not a stuck process.</summary>
    public TimeSpan RunLimit { get; init; } = TimeSpan.FromMinutes(60);

    public string? OutPath { get; init; }
}
