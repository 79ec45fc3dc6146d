namespace RaftHead.Head.Scheduling;

/// <summary>
/// When a failed attempt may run again: exponential in the attempt, capped, with "equal jitter" (half the delay fixed,
/// half scaled by the proposer's random draw) so a crowd of requeued operations does not return at one instant. The
/// proposer computes it and puts the time in the command; the state machine never draws anything itself.
/// </summary>
public static class Backoff
{
    /// <param name="failedAttempt">The attempt that failed, from 1.</param>
    /// <param name="jitter">A draw in [0, 1) from the proposer's seeded random source.</param>
    public static long NotBeforeUnixMs(long nowUnixMs, uint failedAttempt, long baseMs, long maxMs, double jitter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(failedAttempt, 1u);
        ArgumentOutOfRangeException.ThrowIfNegative(baseMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMs, baseMs);
        if (jitter is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(jitter), jitter, "jitter is a draw in [0, 1)");
        }

        var shift = (int)Math.Min(failedAttempt - 1, 30);
        var delay = Math.Min(maxMs, baseMs << shift);
        if (delay < 0)
        {
            delay = maxMs;
        }

        var half = delay / 2;
        return nowUnixMs + half + (long)((delay - half) * jitter);
    }
}
