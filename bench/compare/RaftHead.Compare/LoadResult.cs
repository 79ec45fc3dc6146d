namespace RaftHead.Compare;

/// <summary>
/// One load level against one system: completions inside the measured window and their latencies. <see cref="Rejected"/>
/// counts puts refused with RESOURCE_EXHAUSTED (back-pressure), <see cref="Errors"/> every other failure;
/// <see cref="ErrorKinds"/> groups both by status and message.
/// </summary>
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
    long Rejected,
    IReadOnlyDictionary<string, long> ErrorKinds,
    double ServerCpuMsPerWrite,
    double ClientCpuMsPerWrite)
{
    public double WritesPerSecond => Seconds > 0 ? Writes / Seconds : 0;
}
