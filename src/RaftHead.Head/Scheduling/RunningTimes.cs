using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// How long runs of each action class took: the leader's soft state for straggler detection, fed from the finished
/// operations the replicated state retains, so a new leader rebuilds it from the same completions. A run is its
/// winning attempt's lease time (leased to result, on the heads' clock), so it is comparable with how long a lease
/// has been running. Bounded: the most recent <see cref="SamplesPerClass"/> runs of each of at most
/// <see cref="ClassesMax"/> classes.
/// </summary>
public sealed class RunningTimes
{
    public const int SamplesPerClass = 64;
    public const int ClassesMax = 10_000;

    private readonly Dictionary<string, Samples> _byClass = new(StringComparer.Ordinal);
    private readonly long[] _sorted = new long[SamplesPerClass];
    private FinishedKey? _last;

    public int Classes => _byClass.Count;

    /// <summary>Forgets everything (a new term: the next <see cref="Update"/> reads every retained completion).</summary>
    public void Reset()
    {
        _byClass.Clear();
        _last = null;
    }

    /// <summary>Takes in the operations finished since the last call, adding them to <paramref name="finishedSince"/> when given.</summary>
    public void Update(SchedulerState state, List<OperationState>? finishedSince = null)
    {
        var finished = state.Finished;
        if (finished.Count == 0 || (_last is { } seen && seen >= finished.Max))
        {
            return;
        }

        // Newest first back to the last one taken in, then in finishing order: each pass costs what is new.
        var newer = new List<FinishedKey>();
        foreach (var key in finished.Reverse())
        {
            if (_last is { } previous && key <= previous)
            {
                break;
            }

            newer.Add(key);
        }

        for (var i = newer.Count - 1; i >= 0; i--)
        {
            var operation = state.Operations[newer[i].Name];
            Add(operation);
            finishedSince?.Add(operation);
        }

        _last = finished.Max;
    }

    /// <summary>The median run of <paramref name="operation"/>'s class, or of its tool's when its own class has fewer than <paramref name="samplesMin"/> runs.</summary>
    public long? MedianMs(OperationState operation, int samplesMin) =>
        Median(operation.ActionClass, samplesMin) ?? Median(operation.ToolClass, samplesMin);

    private long? Median(string actionClass, int samplesMin)
    {
        if (actionClass.Length == 0 || !_byClass.TryGetValue(actionClass, out var samples) || samples.Count < Math.Max(samplesMin, 1))
        {
            return null;
        }

        var span = _sorted.AsSpan(0, samples.Count);
        samples.CopyTo(span);
        span.Sort();
        return span[span.Length / 2];
    }

    private void Add(OperationState operation)
    {
        if (operation.Phase != OperationPhase.Completed || operation.CachedResult || SchedulerState.WinningAttempt(operation) is not { } winner)
        {
            return;
        }

        var ms = winner.EndedAtUnixMs - winner.LeasedAtUnixMs;
        if (ms < 0)
        {
            return;
        }

        AddTo(operation.ActionClass, ms);
        AddTo(operation.ToolClass, ms);
    }

    private void AddTo(string actionClass, long ms)
    {
        if (actionClass.Length == 0)
        {
            return;
        }

        if (!_byClass.TryGetValue(actionClass, out var samples))
        {
            if (_byClass.Count >= ClassesMax)
            {
                return;
            }

            _byClass[actionClass] = samples = new Samples();
        }

        samples.Add(ms);
    }

    private sealed class Samples
    {
        private readonly long[] _ring = new long[SamplesPerClass];
        private int _next;

        public int Count { get; private set; }

        public void Add(long ms)
        {
            _ring[_next] = ms;
            _next = (_next + 1) % _ring.Length;
            Count = Math.Min(Count + 1, _ring.Length);
        }

        public void CopyTo(Span<long> target) => _ring.AsSpan(0, Count).CopyTo(target);
    }
}
