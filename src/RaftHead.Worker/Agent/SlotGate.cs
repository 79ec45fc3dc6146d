namespace RaftHead.Worker.Agent;

/// <summary>
/// The worker's run slots. A lease that finds none free waits in line, and a slot that frees goes to the lease that
/// waited longest: leased-ahead work runs in the order the heads handed it out.
/// </summary>
internal sealed class SlotGate
{
    private readonly object _lock = new();
    private readonly LinkedList<TaskCompletionSource<bool>> _waiting = new();
    private int _free;

    public SlotGate(int slots)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(slots);
        _free = slots;
    }

    /// <summary>Leases waiting for a slot.</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>Takes a free slot if one is free and nobody waits for it (give it back with <see cref="Release"/>).</summary>
    public bool TryTake()
    {
        lock (_lock)
        {
            return TakeFreeLocked();
        }
    }

    /// <summary>
    /// True once a slot is taken (give it back with <see cref="Release"/>); false when <paramref name="cancellationToken"/>
    /// ended the wait first, and then no slot is held.
    /// </summary>
    public async ValueTask<bool> TakeAsync(CancellationToken cancellationToken)
    {
        LinkedListNode<TaskCompletionSource<bool>> node;
        lock (_lock)
        {
            if (TakeFreeLocked())
            {
                return true;
            }

            node = _waiting.AddLast(new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
        }

        using var registration = cancellationToken.Register(() => Leave(node));
        return await node.Value.Task.ConfigureAwait(false);
    }

    /// <summary>Gives a slot back: to the longest waiter, if any.</summary>
    public void Release()
    {
        TaskCompletionSource<bool>? next = null;
        lock (_lock)
        {
            if (_waiting.First is { } first)
            {
                _waiting.RemoveFirst();
                next = first.Value;
            }
            else
            {
                _free++;
            }
        }

        next?.TrySetResult(true);
    }

    /// <summary>A newcomer takes a free slot only when nobody is in line: it never overtakes a waiter.</summary>
    private bool TakeFreeLocked()
    {
        if (_free > 0 && _waiting.Count == 0)
        {
            _free--;
            return true;
        }

        return false;
    }

    private void Leave(LinkedListNode<TaskCompletionSource<bool>> node)
    {
        lock (_lock)
        {
            // Already handed a slot by Release: the waiter holds it, and the cancellation is the caller's to act on.
            if (node.List is null)
            {
                return;
            }

            _waiting.Remove(node);
        }

        node.Value.TrySetResult(false);
    }
}
