namespace RaftHead.Storage.Remote;

/// <summary>How a worker moves between heads when one does not answer. Bounds carry their units in their names.</summary>
public sealed record HeadConnectionOptions
{
    /// <summary>How long one call keeps trying the heads while they answer UNAVAILABLE before it gives up.</summary>
    public int UnavailableBudgetMs { get; init; } = 30_000;

    /// <summary>Wait before a retry once every head failed; doubles up to <see cref="BackoffMaxMs"/>, each wait drawn uniformly below its ceiling.</summary>
    public int BackoffInitialMs { get; init; } = 50;

    public int BackoffMaxMs { get; init; } = 2_000;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(UnavailableBudgetMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BackoffInitialMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(BackoffMaxMs, BackoffInitialMs);
    }
}
