namespace RaftHead.Bench;

/// <summary>Bounds of one benchmark run; every loop stops at its count or its time, whichever comes first.</summary>
internal sealed record BenchOptions
{
    /// <summary>Length of one measured round.</summary>
    public double RoundSeconds { get; init; } = 3;

    /// <summary>Measured rounds per side (the sides alternate), after one warm-up round each.</summary>
    public int Rounds { get; init; } = 3;

    public int Callers { get; init; } = 64;

    public int UnaryPayloadBytes { get; init; } = 32;

    /// <summary>Upper bound on calls in one round, whatever the time allows.</summary>
    public int MaxCallsPerRound { get; init; } = 2_000_000;

    /// <summary>Upper bound on bytes one streaming call carries.</summary>
    public long StreamCallBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>A hard stop for the whole run: a hang becomes a cancellation, not a stuck process.</summary>
    public TimeSpan RunLimit { get; init; } = TimeSpan.FromMinutes(10);

    public string? OutPath { get; init; }

    /// <summary>Unary only: skips the streaming rounds (for quick before/after comparisons).</summary>
    public bool SkipStreaming { get; init; }

    /// <summary>Samples allocated types (GC AllocationTick events) during extra unary rounds of each side.</summary>
    public bool ProfileAllocations { get; init; }
}
