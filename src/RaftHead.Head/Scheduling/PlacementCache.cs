using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// What <see cref="Placement.Plan"/> derives from the workers alone (their order, which of them offer each platform,
/// the most slots any has), kept between one caller's plans while the state's worker set is the same object: a worker
/// set changes on registration, retirement and death, not on the leases that change with every apply, so a plan costs
/// its grants and one read of each worker's usage instead of a platform match of every worker. A memo of a pure
/// function of the state: a plan with it decides exactly as one without. One caller at a time (not thread-safe).
/// </summary>
public sealed class PlacementCache
{
    private readonly Dictionary<string, int[]> _candidates = new(StringComparer.Ordinal);
    private object? _workerSet;
    private WorkerState[] _workers = [];
    private WorkerUsage[] _usage = [];

    /// <summary>The layout for the state's worker set, rebuilt when that set is a different object than last time.</summary>
    internal PlacementCache LayoutOf(SchedulerState state)
    {
        if (ReferenceEquals(_workerSet, state.Workers))
        {
            return this;
        }

        _workerSet = state.Workers;
        _candidates.Clear();
        _workers = new WorkerState[state.Workers.Count];
        _usage = new WorkerUsage[_workers.Length];
        SlotsMax = 0;
        var position = 0;
        foreach (var worker in state.Workers.Values)
        {
            _workers[position++] = worker;
            SlotsMax = Math.Max(SlotsMax, (int)worker.Slots);
        }

        return this;
    }

    /// <summary>Workers by position (id order).</summary>
    internal WorkerState[] Workers => _workers;

    /// <summary>The most slots any worker declares.</summary>
    internal int SlotsMax { get; private set; }

    /// <summary>Each worker's usage in the state, by position: a buffer the plan may change, refilled by every call.</summary>
    internal WorkerUsage[] UsageOf(SchedulerState state)
    {
        for (var i = 0; i < _workers.Length; i++)
        {
            _usage[i] = state.Usage[_workers[i].WorkerId];
        }

        return _usage;
    }

    /// <summary>Positions of the workers a queue of the platform may use: not retiring, not quarantined, offering its platform.</summary>
    internal int[] CandidatesOf(SchedulerState state, string platformKey, QueueLevel level)
    {
        if (_candidates.TryGetValue(platformKey, out var positions))
        {
            return positions;
        }

        // Every operation of one queue has the same platform up to value case, which matching ignores.
        var sample = state.Operations[level.Waiting[level.Ring[0]].First().Value].Platform;
        var found = new List<int>(_workers.Length);
        for (var i = 0; i < _workers.Length; i++)
        {
            if (Capacity.TakesNewLeases(_workers[i]) && PlatformRules.Satisfies(_workers[i].Platform, sample))
            {
                found.Add(i);
            }
        }

        positions = found.ToArray();
        _candidates[platformKey] = positions;
        return positions;
    }
}
