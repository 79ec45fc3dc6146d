namespace RaftHead.Compare;

internal static class Percentiles
{
    /// <summary>Nearest-rank percentile (q in 0..1] of sorted values; NaN when empty.</summary>
    public static double Of(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0) return double.NaN;
        var rank = (int)Math.Ceiling(q * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }
}
