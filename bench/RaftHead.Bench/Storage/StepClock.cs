using System.Collections.Concurrent;
using System.Diagnostics;

namespace RaftHead.Bench.Storage;

/// <summary>Sums wall time per named step (Stopwatch timestamps) across operations.</summary>
internal sealed class StepClock
{
    private readonly ConcurrentDictionary<string, long> _ticks = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];

    /// <summary>Adds the time since <paramref name="since"/> to <paramref name="step"/> and returns now.</summary>
    public long Add(string step, long since)
    {
        var now = Stopwatch.GetTimestamp();
        _ticks.AddOrUpdate(step, now - since, (_, total) => total + (now - since));
        lock (_order)
        {
            if (!_order.Contains(step))
            {
                _order.Add(step);
            }
        }

        return now;
    }

    public StepTimes? ToStepTimes(string what, long bytes)
    {
        lock (_order)
        {
            return _order.Count == 0 ? null : new StepTimes(what, bytes, _order.Select(s => (s, (double)_ticks[s] / Stopwatch.Frequency)).ToArray());
        }
    }
}
