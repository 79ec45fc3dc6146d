namespace RaftHead.Bench;

/// <summary>One measured round of one side: calls (or streamed bytes) over wall time, with latencies and allocation.</summary>
internal sealed record RoundResult(
    string Side,
    long Calls,
    TimeSpan Elapsed,
    double P50Us,
    double P99Us,
    long AllocatedBytes,
    int Gen0Collections,
    int Gen2Collections,
    long PayloadBytes = 0)
{
    public double CallsPerSecond => Calls / Elapsed.TotalSeconds;

    public double AllocatedBytesPerCall => Calls == 0 ? 0 : (double)AllocatedBytes / Calls;

    /// <summary>Message payload per second, in 10^6 bytes.</summary>
    public double MegabytesPerSecond => PayloadBytes / Elapsed.TotalSeconds / 1e6;
}
