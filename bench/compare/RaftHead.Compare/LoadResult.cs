namespace RaftHead.Compare;

/// <summary>One load level against one system: completions inside the measured window and their latencies.</summary>
internal sealed record LoadResult(
    string System,
    int ValueBytes,
    int Writers,
    long Writes,
    double Seconds,
    double P50Ms,
    double P99Ms,
    double MaxMs,
    long Errors,
    double ServerCpuMsPerWrite,
    double ClientCpuMsPerWrite)
{
    public double WritesPerSecond => Seconds > 0 ? Writes / Seconds : 0;
}
