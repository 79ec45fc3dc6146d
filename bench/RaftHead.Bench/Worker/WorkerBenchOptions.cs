namespace RaftHead.Bench.Worker;

/// <summary>Bounds of one <c>worker</c> run; every loop stops at its count or its time, whichever comes first.</summary>
internal sealed record WorkerBenchOptions
{
    /// <summary>Length of one no-op case in one round.</summary>
    public double CaseSeconds { get; init; } = 2;

    /// <summary>Upper bound on calls (or process starts) in one no-op case.</summary>
    public int CaseCallsMax { get; init; } = 2_000;

    /// <summary>Rounds of each part; the sides alternate within a round and their order flips from round to round.</summary>
    public int Rounds { get; init; } = 3;

    /// <summary>Blob sizes fetched; each size has its own set of distinct blobs.</summary>
    public IReadOnlyList<int> BlobSizes { get; init; } = [64 * 1024, 4 * 1024 * 1024, 64 * 1024 * 1024];

    /// <summary>Bytes of distinct blobs per size (at least <see cref="BlobsMin"/> blobs): one case fetches each once.</summary>
    public long BytesPerSize { get; init; } = 128L * 1024 * 1024;

    public int BlobsMin { get; init; } = 4;

    /// <summary>Caps the count of small blobs, whose fetches are bound by round trips rather than bytes.</summary>
    public int BlobsMax { get; init; } = 512;

    /// <summary>Fetches under way at once, one case per value.</summary>
    public IReadOnlyList<int> Concurrency { get; init; } = [1, 4];

    public string RunAsUser { get; init; } = "rh-runner";

    public string TempRoot { get; init; } = Path.GetTempPath();

    public bool SkipNoOp { get; init; }

    public bool SkipFetch { get; init; }

    /// <summary>Fetch rounds without the sides that split the peer fetch's time (file spool, where-is, read alone, SHA-256).</summary>
    public bool SkipParts { get; init; }

    /// <summary>A hard stop for the whole run: a hang becomes a cancellation, not a stuck process.</summary>
    public TimeSpan RunLimit { get; init; } = TimeSpan.FromMinutes(10);

    public string? OutPath { get; init; }
}
