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
    private Task? _loop;

    public int HeldOperations
    {
        get
        {
            lock (_gate)
            {
                return _byOperation.Count;
            }
        }
    }

    /// <summary>Takes ownership of <paramref name="pins"/> until <paramref name="operationName"/> is finished or forgotten.</summary>
    public void Hold(string operationName, List<IDisposable> pins)
    {
        if (pins.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
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

    public void Start(ISchedulerLog log, CancellationToken stopping) => _loop = Task.Run(() => ReleaseLoopAsync(log, stopping), CancellationToken.None);

    public async Task StopAsync()
    {
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        lock (_gate)
        {
            foreach (var pins in _byOperation.Values)
            {
                Release(pins);
            }

            _byOperation.Clear();
        }
    }

    /// <summary>Releases the pins of every held operation the state shows finished or no longer knows.</summary>
    public void ReleaseFinished(SchedulerState state)
    {
        List<string>? done = null;
        lock (_gate)
        {
            foreach (var (name, _) in _byOperation)
            {
                if (state.FindOperation(name) is not { } operation || SchedulerState.IsFinished(operation.Phase))
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

    private async Task ReleaseLoopAsync(ISchedulerLog log, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var changed = log.Changes.Next;
            ReleaseFinished(log.Current);
            try
            {
                await changed.WaitAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static void Release(List<IDisposable> pins)
    {
        foreach (var pin in pins)
        {
            pin.Dispose();
        }
    }
}
