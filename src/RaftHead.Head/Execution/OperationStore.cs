using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Execution;

/// <summary>
/// The scheduler's in-memory state and nothing else: operations by name, in-flight operations by action digest (for
/// deduplication), the bounded run queue, and the finished operations kept for a while. No I/O and no clock: callers
/// pass the time. Every method takes one lock, so admission (dedup, bound, enqueue) is atomic.
/// </summary>
internal sealed class OperationStore
{
    private readonly object _gate = new();
    private readonly Dictionary<string, ExecutionOperation> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Instance, string Hash, long Size), ExecutionOperation> _inFlight = new();
    private readonly PriorityQueue<ExecutionOperation, (int Priority, long Sequence)> _queue = new();
    private readonly Queue<ExecutionOperation> _finished = new();
    private readonly int _queuedMax;
    private readonly int _finishedMax;
    private readonly TimeSpan _finishedRetention;
    private long _sequence;
    private int _running;

    public OperationStore(int queuedMax, int finishedMax, TimeSpan finishedRetention)
    {
        _queuedMax = queuedMax;
        _finishedMax = finishedMax;
        _finishedRetention = finishedRetention;
    }

    public enum Admission
    {
        Queued,
        Joined,
        QueueFull,
    }

    public int QueuedCount
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    public int RunningCount
    {
        get
        {
            lock (_gate)
            {
                return _running;
            }
        }
    }

    public ExecutionOperation? FindInFlight(string instanceName, Digest actionDigest)
    {
        lock (_gate)
        {
            return _inFlight.GetValueOrDefault((instanceName, actionDigest.Hash, actionDigest.SizeBytes));
        }
    }

    /// <summary>
    /// Queues <paramref name="candidate"/>, or answers the in-flight operation of the same action (when
    /// <paramref name="deduplicate"/>), or refuses because the queue is full. Joining never counts against the bound:
    /// it adds no work.
    /// </summary>
    public (Admission Outcome, ExecutionOperation Operation) Admit(ExecutionOperation candidate, bool deduplicate)
    {
        var key = (candidate.InstanceName, candidate.ActionDigest.Hash, candidate.ActionDigest.SizeBytes);
        lock (_gate)
        {
            if (deduplicate && _inFlight.TryGetValue(key, out var existing))
            {
                return (Admission.Joined, existing);
            }

            if (_queue.Count >= _queuedMax)
            {
                return (Admission.QueueFull, candidate);
            }

            candidate.Sequence = ++_sequence;
            _byName.Add(candidate.Name, candidate);
            if (deduplicate)
            {
                _inFlight.Add(key, candidate);
            }

            _queue.Enqueue(candidate, (candidate.Priority, candidate.Sequence));
            return (Admission.Queued, candidate);
        }
    }

    /// <summary>Records an operation that was born completed (a cache hit), so WaitExecution and GetOperation find it.</summary>
    public void AddCompleted(ExecutionOperation operation, DateTimeOffset now)
    {
        Debug.Assert(operation.Done, "only a completed operation is added this way");
        lock (_gate)
        {
            operation.Sequence = ++_sequence;
            _byName.Add(operation.Name, operation);
            _finished.Enqueue(operation);
            Prune(now);
        }
    }

    /// <summary>Takes the next queued operation and marks it executing on <paramref name="worker"/>; null if none.</summary>
    public ExecutionOperation? TryStart(string worker, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (!_queue.TryDequeue(out var operation, out _))
            {
                return null;
            }

            Debug.Assert(!operation.Done, "a finished operation is removed from the queue when it finishes");
            operation.MarkExecuting(worker, now);
            _running++;
            return operation;
        }
    }

    /// <summary>The slot that ran <paramref name="operation"/> is free again (whether or not the run decided its outcome).</summary>
    public void Finished(ExecutionOperation operation)
    {
        lock (_gate)
        {
            Debug.Assert(_running > 0, "every started operation finishes once");
            _running--;
        }
    }

    /// <summary>Completes an unfinished operation; false if it was already done (for example cancelled meanwhile).</summary>
    public bool TryComplete(ExecutionOperation operation, ExecuteResponse response, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (operation.Stage == ExecutionStage.Types.Value.Queued)
            {
                _queue.Remove(operation, out _, out _);
            }

            if (!operation.TryComplete(response, now))
            {
                return false;
            }

            var key = (operation.InstanceName, operation.ActionDigest.Hash, operation.ActionDigest.SizeBytes);
            if (_inFlight.TryGetValue(key, out var current) && ReferenceEquals(current, operation))
            {
                _inFlight.Remove(key);
            }

            _finished.Enqueue(operation);
            Prune(now);
            return true;
        }
    }

    public ExecutionOperation? Find(string name, DateTimeOffset now)
    {
        lock (_gate)
        {
            Prune(now);
            return _byName.GetValueOrDefault(name);
        }
    }

    /// <summary>Every known operation in creation order, optionally only those after <paramref name="afterSequence"/>.</summary>
    public List<ExecutionOperation> List(DateTimeOffset now, long afterSequence = 0)
    {
        lock (_gate)
        {
            Prune(now);
            var list = new List<ExecutionOperation>(_byName.Count);
            foreach (var operation in _byName.Values)
            {
                if (operation.Sequence > afterSequence)
                {
                    list.Add(operation);
                }
            }

            list.Sort(static (a, b) => a.Sequence.CompareTo(b.Sequence));
            return list;
        }
    }

    public List<OperationInfo> Snapshot(DateTimeOffset now)
    {
        lock (_gate)
        {
            var operations = List(now);
            return operations.ConvertAll(static o => o.ToInfo());
        }
    }

    /// <summary>Every operation not yet done, for shutdown.</summary>
    public List<ExecutionOperation> Unfinished()
    {
        lock (_gate)
        {
            var list = new List<ExecutionOperation>();
            foreach (var operation in _byName.Values)
            {
                if (!operation.Done)
                {
                    list.Add(operation);
                }
            }

            return list;
        }
    }

    // Finished operations leave in completion order, by count and by age.
    private void Prune(DateTimeOffset now)
    {
        while (_finished.TryPeek(out var oldest)
            && (_finished.Count > _finishedMax || oldest.CompletedAt!.Value + _finishedRetention <= now))
        {
            _finished.Dequeue();
            _byName.Remove(oldest.Name);
        }
    }
}
