using System.Diagnostics;

namespace RaftHead.Bench.Storage;

/// <summary>Latency samples in Stopwatch ticks, and their percentiles in microseconds.</summary>
internal static class Latencies
{
    public static (double P50Us, double P99Us) Percentiles(List<long> ticks)
    {
        if (ticks.Count == 0)
        {
            return (double.NaN, double.NaN);
        }

        ticks.Sort();
        var toUs = 1e6 / Stopwatch.Frequency;
        return (ticks[(int)((ticks.Count - 1) * 0.50)] * toUs, ticks[(int)((ticks.Count - 1) * 0.99)] * toUs);
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
