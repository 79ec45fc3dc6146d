namespace RaftHead.Storage.Segments;

/// <summary>
/// Lets a checkpoint see a moment when no record is between "appended to a segment" and "in the index".
/// Commits enter shared; the checkpoint enters exclusive, which stops new commits and waits for the
/// ones in flight (at most one fsync each). Segment lengths read while exclusive are then a point
/// below which every record is indexed, which is what recovery relies on.
/// </summary>
internal sealed class CommitGate : IDisposable
{
    private readonly SemaphoreSlim _door = new(1, 1);
    private int _inFlight;
    private TaskCompletionSource? _drained;

    public async ValueTask EnterAsync(CancellationToken cancellationToken)
    {
        await _door.WaitAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _inFlight);
        _door.Release();
    }

    public void Exit()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0)
        {
            Volatile.Read(ref _drained)?.TrySetResult();
        }
    }

    public async ValueTask EnterExclusiveAsync(CancellationToken cancellationToken)
    {
        await _door.WaitAsync(cancellationToken).ConfigureAwait(false);
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _drained, drained);
        if (Volatile.Read(ref _inFlight) == 0)
        {
            drained.TrySetResult();
        }

        try
        {
            await drained.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Volatile.Write(ref _drained, null);
            _door.Release();
            throw;
        }

        Volatile.Write(ref _drained, null);
    }

    public void ExitExclusive() => _door.Release();

    public void Dispose() => _door.Dispose();
}
