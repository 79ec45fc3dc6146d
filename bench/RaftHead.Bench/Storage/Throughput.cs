namespace RaftHead.Bench.Storage;

/// <summary>Operations and bytes moved by <see cref="Workers"/> concurrent workers in <see cref="Seconds"/> of wall time.</summary>
internal sealed record Throughput(int Workers, long Operations, long Bytes, double Seconds)
{
    public double MBps => Bytes / Seconds / 1e6;

    public double OpsPerSecond => Operations / Seconds;
}
