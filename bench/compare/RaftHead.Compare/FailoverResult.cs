namespace RaftHead.Compare;

internal sealed record FailoverResult(string System, string Settings, IReadOnlyList<FailoverRound> Rounds)
{
    private List<double> Sorted => Rounds.Where(r => r.FailoverMs is not null).Select(r => r.FailoverMs!.Value).Order().ToList();

    public int Failed => Rounds.Count(r => r.FailoverMs is null);

    public double MedianMs => Percentiles.Of(Sorted, 0.5);

    public double MinMs => Sorted.Count == 0 ? double.NaN : Sorted[0];

    public double P90Ms => Percentiles.Of(Sorted, 0.9);

    /// <summary>A round without a write within its deadline counts as the worst case.</summary>
    public double MaxMs => Failed > 0 ? double.PositiveInfinity : Sorted.Count == 0 ? double.NaN : Sorted[^1];
}
