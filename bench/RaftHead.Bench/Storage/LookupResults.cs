namespace RaftHead.Bench.Storage;

/// <summary>FindMissing rounds and GetActionResult latency rounds (ours and Redis), with what they ran on.</summary>
internal sealed record LookupResults(
    IReadOnlyList<FindMissingRound> FindMissing,
    IReadOnlyList<LatencyRound> Latency,
    int Population,
    int ActionResultBytes,
    string? RedisVersion,
    string? RedisError);

/// <summary>Digests looked up by <see cref="Callers"/> concurrent callers in <see cref="Seconds"/>.</summary>
internal sealed record FindMissingRound(string Where, int Callers, long Digests, double Seconds)
{
    public double DigestsPerSecond => Digests / Seconds;
}

/// <summary>One latency round of one system (ours over gRPC, or redis-benchmark GET).</summary>
internal sealed record LatencyRound(string System, int Callers, double P50Us, double P99Us, double OpsPerSecond);
