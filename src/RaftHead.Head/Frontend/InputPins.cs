using System.Collections.Immutable;
using RaftHead.Head.Scheduling;

namespace RaftHead.Head.Frontend;

/// <summary>
/// Keeps the inputs of work this head admitted from eviction until the operation finishes: Execute checked them
/// present, and a worker fetching them later (from this head, or a head reading through to it) must still find them.
/// Soft state of this replica, released by watching the applied state; a head that restarts forgets its pins, which
/// costs at worst a retried attempt, never a wrong result.
/// </summary>
internal sealed class InputPins
{
    private readonly object _gate = new();
    private readonly Dictionary<string, List<IDisposable>> _byOperation = new(StringComparer.Ordinal);
    private ISchedulerLog? _log;
    private Task? _loop;

    /// <summary>
    /// Takes ownership of <paramref name="pins"/> until <paramref name="operationName"/> is finished or forgotten; at
    /// once when the applied state already says so (a cache hit is born finished).
    /// </summary>
    public void Hold(string operationName, List<IDisposable> pins)
    {
        if (pins.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            // Read inside the lock: an operation that finishes after this read changes the finished index, which makes
            // the release loop scan again once this hold is in place.
            if (_log is null || IsOver(_log.Current, operationName))
            {
                Release(pins);
                return;
            }

            if (_byOperation.TryGetValue(operationName, out var held))
            {
                held.AddRange(pins);
            }
            else
            {
                _byOperation.Add(operationName, pins);
            }
        }
    }

    public void Start(ISchedulerLog log, CancellationToken stopping)
    {
        lock (_gate)
        {
            _log = log;
        }

        _loop = Task.Run(() => ReleaseLoopAsync(log, stopping), CancellationToken.None);
    }

    public async Task StopAsync()
    {
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        lock (_gate)
        {
            _log = null;
            foreach (var pins in _byOperation.Values)
            {
                Release(pins);
            }

            _byOperation.Clear();
        }
    }

    private static bool IsOver(SchedulerState state, string operationName) =>
        state.FindOperation(operationName) is not { } operation || SchedulerState.IsFinished(operation.Phase);

    /// <summary>Releases the pins of every held operation the state shows finished or no longer knows.</summary>
    private void ReleaseFinished(SchedulerState state)
    {
        lock (_gate)
        {
            List<string>? done = null;
            foreach (var (name, _) in _byOperation)
            {
                if (IsOver(state, name))
                {
                    (done ??= []).Add(name);
                }
            }

            if (done is null)
            {
                return;
            }

            foreach (var name in done)
            {
                _byOperation.Remove(name, out var pins);
                Release(pins!);
            }
        }
    }

    private Task ReleaseLoopAsync(ISchedulerLog log, CancellationToken stopping)
    {
        // Pins can only become releasable when an operation finishes or is pruned, and either replaces the (immutable)
        // finished index: other applies cost a reference compare, not a scan of every held operation.
        ImmutableSortedSet<FinishedKey>? scanned = null;
        return AppliedStates.FollowAsync(
            log,
            state =>
            {
                if (!ReferenceEquals(state.Finished, scanned))
                {
                    scanned = state.Finished;
                    ReleaseFinished(state);
                }
            },
            stopping);
    }

    private static void Release(List<IDisposable> pins)
    {
        foreach (var pin in pins)
        {
            pin.Dispose();
        }
    }
}
