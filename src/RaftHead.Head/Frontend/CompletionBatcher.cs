using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// Group commit for workers' completions. A completion that finds none in flight is proposed at once as a plain
/// Complete, so a lone worker waits no longer than before; completions that arrive while one is being committed
/// wait for it and then go together as one <see cref="CompleteBatch"/> entry. Under a burst (a thousand workers
/// finishing together) the log takes a few entries a round trip instead of one per worker, which is what the
/// leader's commit path, the followers and every apply pay for.
/// </summary>
public sealed class CompletionBatcher
{
    private readonly Func<SchedulerCommand, CancellationToken, Task<SchedulerResult>> _propose;
    private readonly int _batchMax;
    private readonly object _gate = new();
    private List<Pending> _waiting = new();
    private List<Pending> _spare = new();
    private bool _flushing;

    public CompletionBatcher(Func<SchedulerCommand, CancellationToken, Task<SchedulerResult>> propose, int batchMax)
    {
        ArgumentNullException.ThrowIfNull(propose);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchMax, 1);
        _propose = propose;
        _batchMax = batchMax;
    }

    /// <summary>Entries proposed so far (a plain Complete or a batch each).</summary>
    public long Entries { get; private set; }

    /// <summary>Completions proposed so far; <c>Completions / Entries</c> is the batching achieved.</summary>
    public long Completions { get; private set; }

    /// <summary>
    /// Proposes <paramref name="complete"/> and returns its own result (as if it were proposed alone). A failure to
    /// commit the entry carrying it (no leader, back-pressure) is thrown to every completion of that entry.
    /// </summary>
    public Task<SchedulerResult> CompleteAsync(CompleteOperation complete, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(complete);
        var pending = new Pending(complete);
        bool lead;
        lock (_gate)
        {
            _waiting.Add(pending);
            lead = !_flushing;
            _flushing = true;
        }

        if (lead)
        {
            _ = FlushAsync();
        }

        // The entry is committed or failed whatever this caller does; a caller that gives up only stops waiting.
        return pending.Result.Task.WaitAsync(cancellationToken);
    }

    private async Task FlushAsync()
    {
        while (true)
        {
            List<Pending> batch;
            lock (_gate)
            {
                if (_waiting.Count == 0)
                {
                    _flushing = false;
                    return;
                }

                batch = _waiting;
                _waiting = _spare;
                _spare = batch;
            }

            // A batch beyond the bound is proposed in bound-sized entries one after another.
            for (var start = 0; start < batch.Count; start += _batchMax)
            {
                await ProposeAsync(batch, start, Math.Min(_batchMax, batch.Count - start)).ConfigureAwait(false);
            }

            batch.Clear();
        }
    }

    private async Task ProposeAsync(List<Pending> batch, int start, int count)
    {
        SchedulerCommand command;
        if (count == 1)
        {
            command = new SchedulerCommand { Complete = batch[start].Complete };
        }
        else
        {
            var entry = new CompleteBatch();
            for (var i = start; i < start + count; i++)
            {
                entry.Completions.Add(batch[i].Complete);
            }

            command = new SchedulerCommand { CompleteBatch = entry };
        }

        Entries++;
        Completions += count;
        SchedulerResult result;
        try
        {
            result = await _propose(command, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            for (var i = start; i < start + count; i++)
            {
                batch[i].Result.TrySetException(e);
            }

            return;
        }

        if (count == 1 || result.DetailCase != SchedulerResult.DetailOneofCase.CompleteBatch)
        {
            // A plain Complete's own result; or a batch refused as a whole (a replica that does not know batches),
            // which is every part's answer.
            for (var i = start; i < start + count; i++)
            {
                batch[i].Result.TrySetResult(result);
            }

            return;
        }

        var parts = result.CompleteBatch.Results;
        if (parts.Count != count)
        {
            var mismatch = new InvalidOperationException($"a completion batch of {count} was answered with {parts.Count} results");
            for (var i = start; i < start + count; i++)
            {
                batch[i].Result.TrySetException(mismatch);
            }

            return;
        }

        for (var i = 0; i < count; i++)
        {
            batch[start + i].Result.TrySetResult(parts[i]);
        }
    }

    private sealed class Pending(CompleteOperation complete)
    {
        public CompleteOperation Complete { get; } = complete;

        public TaskCompletionSource<SchedulerResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
