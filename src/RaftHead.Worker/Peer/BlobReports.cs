using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Peer;

/// <summary>
/// The blobs a worker has yet to tell the heads it holds, for the heartbeats' <c>stored</c> list. The heads' blob
/// directory is soft state built from these hints alone, so every hint is worth resending when in doubt: a beat that
/// failed gives its batch back, and a registration (the head may have forgotten the worker) queues everything held.
/// Both the queue and a full resend are bounded; a hint dropped costs peers a fetch from a head, nothing more.
/// </summary>
public sealed class BlobReports
{
    private readonly FileCache _cache;
    private readonly ConcurrentQueue<Digest> _pending = new();
    private readonly int _pendingMax;
    private int _pendingCount;

    /// <param name="cache">The worker's blobs: what it stores is queued, and a full resend lists it.</param>
    /// <param name="pendingMax">Hints queued at most; also the bound of a full resend.</param>
    public BlobReports(FileCache cache, int pendingMax = 100_000)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pendingMax);
        _cache = cache;
        _pendingMax = pendingMax;
        cache.Stored += Add;
    }

    /// <summary>Hints waiting for a heartbeat.</summary>
    public int PendingCount => Volatile.Read(ref _pendingCount);

    public void Add(Digest digest)
    {
        if (Interlocked.Increment(ref _pendingCount) > _pendingMax)
        {
            Interlocked.Decrement(ref _pendingCount);
            return;
        }

        _pending.Enqueue(digest);
    }

    /// <summary>Moves up to <paramref name="max"/> hints into <paramref name="batch"/> for one heartbeat.</summary>
    public void Take(int max, ICollection<Digest> batch)
    {
        while (batch.Count < max && _pending.TryDequeue(out var digest))
        {
            Interlocked.Decrement(ref _pendingCount);
            batch.Add(digest);
        }
    }

    /// <summary>Gives back a batch the heads did not take (the beat failed or was refused).</summary>
    public void Return(IEnumerable<Digest> batch)
    {
        foreach (var digest in batch)
        {
            Add(digest);
        }
    }

    /// <summary>Queues every blob held (bounded), for a head that may know nothing of this worker.</summary>
    public void ResendAll()
    {
        foreach (var digest in _cache.EnumerateStored())
        {
            if (PendingCount >= _pendingMax)
            {
                break;
            }

            Add(digest);
        }
    }
}
