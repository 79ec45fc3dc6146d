namespace RaftHead.Head.Frontend;

/// <summary>
/// One signal for every apply: the log's applier pulses it after each command (and each restore), and watchers wait
/// for it rather than holding a waiter per operation in the state machine. A pulse says only "something may have
/// changed"; a watcher re-reads the state and decides for itself, so pulses may be coalesced freely.
/// </summary>
public sealed class ChangeFeed
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _awaited;

    /// <summary>Completes at the next pulse. Take it before reading the state, so a change between the two is not missed.</summary>
    public Task Next
    {
        get
        {
            Volatile.Write(ref _awaited, 1);
            return Volatile.Read(ref _next).Task;
        }
    }

    /// <summary>Wakes every waiter. Cheap when nobody waits: no allocation unless someone took <see cref="Next"/>.</summary>
    public void Pulse()
    {
        if (Interlocked.Exchange(ref _awaited, 0) == 0)
        {
            return;
        }

        var fired = Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        fired.TrySetResult();
    }
}
