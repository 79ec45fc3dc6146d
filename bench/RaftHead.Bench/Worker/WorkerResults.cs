namespace RaftHead.Bench.Worker;

internal sealed record WorkerResults
{
    /// <summary>Per round, per <see cref="NoOpPhase.Metrics"/> entry: p50 and p99 in microseconds.</summary>
    public List<(double P50Us, double P99Us)[]> NoOpRounds { get; init; } = [];

    public List<FetchRound> FetchRounds { get; init; } = [];

    public string Isolation { get; init; } = "";
}
