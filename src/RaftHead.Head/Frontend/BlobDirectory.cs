using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Frontend;

/// <summary>
/// Which worker holds which blob, as the workers' heartbeats report it: soft state of the leader, for peer fetches
/// (where-is) and for placing work near its inputs. Indexed both ways, so a lookup by blob never scans the workers.
/// Bounded per worker; a worker's entries go when it restarts or is forgotten.
/// </summary>
public sealed class BlobDirectory
{
    private readonly object _gate = new();
    private readonly Dictionary<(string Hash, long Size), HashSet<string>> _holders = new();
    private readonly Dictionary<string, HashSet<(string Hash, long Size)>> _held = new(StringComparer.Ordinal);
    private readonly int _perWorkerMax;

    public BlobDirectory(int perWorkerMax)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perWorkerMax);
        _perWorkerMax = perWorkerMax;
    }

    /// <summary>True once any worker reported a blob; until then locality has nothing to score.</summary>
    public bool IsEmpty
    {
        get
        {
            lock (_gate)
            {
                return _holders.Count == 0;
            }
        }
    }

    /// <summary>Applies a heartbeat's news: evictions first, then new blobs up to the per-worker bound.</summary>
    public void Update(string workerId, IEnumerable<Digest> stored, IEnumerable<Digest> evicted)
    {
        lock (_gate)
        {
            _held.TryGetValue(workerId, out var held);
            foreach (var digest in evicted)
            {
                var key = (digest.Hash, digest.SizeBytes);
                if (held is not null && held.Remove(key))
                {
                    RemoveHolder(key, workerId);
                }
            }

            foreach (var digest in stored)
            {
                held ??= _held[workerId] = new HashSet<(string, long)>();
                if (held.Count >= _perWorkerMax)
                {
                    break;
                }

                var key = (digest.Hash, digest.SizeBytes);
                if (held.Add(key))
                {
                    if (!_holders.TryGetValue(key, out var holders))
                    {
                        holders = _holders[key] = new HashSet<string>(StringComparer.Ordinal);
                    }

                    holders.Add(workerId);
                }
            }
        }
    }

    /// <summary>Drops everything the worker reported (it restarted with an empty store, or is gone).</summary>
    public void Forget(string workerId)
    {
        lock (_gate)
        {
            if (!_held.Remove(workerId, out var held))
            {
                return;
            }

            foreach (var key in held)
            {
                RemoveHolder(key, workerId);
            }
        }
    }

    /// <summary>Adds the workers believed to hold the blob to <paramref name="holders"/>.</summary>
    public void HoldersOf(Digest digest, List<string> holders)
    {
        ArgumentNullException.ThrowIfNull(digest);
        ArgumentNullException.ThrowIfNull(holders);
        lock (_gate)
        {
            if (_holders.TryGetValue((digest.Hash, digest.SizeBytes), out var found))
            {
                holders.AddRange(found);
            }
        }
    }

    /// <summary>True when the worker reported the blob and has not evicted it since.</summary>
    public bool Holds(string workerId, Digest digest)
    {
        lock (_gate)
        {
            return _held.TryGetValue(workerId, out var held) && held.Contains((digest.Hash, digest.SizeBytes));
        }
    }

    private void RemoveHolder((string Hash, long Size) key, string workerId)
    {
        if (_holders.TryGetValue(key, out var holders) && holders.Remove(workerId) && holders.Count == 0)
        {
            _holders.Remove(key);
        }
    }
}
