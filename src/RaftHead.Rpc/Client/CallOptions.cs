namespace RaftHead.Rpc.Client;

/// <summary>Per-call settings. A call with neither <see cref="Timeout"/> nor <see cref="DeadlineUtc"/> waits as long as its token allows.</summary>
public readonly record struct CallOptions
{
    public Metadata? Headers { get; init; }

    public TimeSpan? Timeout { get; init; }

    public DateTime? DeadlineUtc { get; init; }

    public CancellationToken CancellationToken { get; init; }

    internal TimeSpan? RemainingTime(DateTime nowUtc)
    {
        TimeSpan? remaining = Timeout;
        if (DeadlineUtc is { } deadline)
        {
            var untilDeadline = deadline - nowUtc;
            remaining = remaining is null || untilDeadline < remaining ? untilDeadline : remaining;
        }

        return remaining is { } r && r < TimeSpan.Zero ? TimeSpan.Zero : remaining;
    }
}
