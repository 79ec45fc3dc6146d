using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Frontend;

/// <summary>
/// What the leader knows of its workers without the log: when each was last heard from, its process incarnation and
/// peer endpoint, the leases already handed to it, and which blobs it said it holds. Lost on a leader change by
/// design: a new leader rebuilds it from the next heartbeats (and grants a grace period before judging silence).
/// </summary>
public sealed class WorkerSoftState
{
    private readonly ConcurrentDictionary<string, Entry> _workers = new(StringComparer.Ordinal);
    private readonly int _blobHintsPerWorkerMax;

    public WorkerSoftState(int blobHintsPerWorkerMax)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blobHintsPerWorkerMax);
        _blobHintsPerWorkerMax = blobHintsPerWorkerMax;
    }

    /// <summary>When the worker was last heard from (ms since the epoch), or null when never since this replica led.</summary>
    public long? LastSeenUnixMs(string workerId) =>
        _workers.TryGetValue(workerId, out var entry) ? Interlocked.Read(ref entry.LastSeenUnixMs) : null;

    /// <summary>Marks the worker alive at <paramref name="nowUnixMs"/>.</summary>
    public void Seen(string workerId, long nowUnixMs)
    {
        var entry = _workers.GetOrAdd(workerId, static _ => new Entry());
        long seen;
        do
        {
            seen = Interlocked.Read(ref entry.LastSeenUnixMs);
        }
        while (seen < nowUnixMs && Interlocked.CompareExchange(ref entry.LastSeenUnixMs, nowUnixMs, seen) != seen);
    }

    /// <summary>
    /// Records a registration. True when it is a different process than the one seen before (a restart: the leases of the
    /// old one died with it); false for the first registration seen here or a reconnect of the same process.
    /// </summary>
    public bool Registered(string workerId, string incarnation, string peerEndpoint, long nowUnixMs)
    {
        var entry = _workers.GetOrAdd(workerId, static _ => new Entry());
        bool restarted;
        lock (entry)
        {
            restarted = entry.Incarnation is { } known && known != incarnation;
            entry.Incarnation = incarnation;
            entry.PeerEndpoint = peerEndpoint;
            if (restarted)
            {
                entry.Delivered.Clear();
                entry.Blobs.Clear();
            }
        }

        Seen(workerId, nowUnixMs);
        return restarted;
    }

    /// <summary>False when this replica knows the worker by another incarnation (it must register again).</summary>
    public bool IsIncarnation(string workerId, string incarnation)
    {
        if (!_workers.TryGetValue(workerId, out var entry))
        {
            return incarnation.Length == 0;
        }

        lock (entry)
        {
            return entry.Incarnation is null || entry.Incarnation == incarnation;
        }
    }

    public void Forget(string workerId) => _workers.TryRemove(workerId, out _);

    /// <summary>Marks a lease as handed to its worker; false when it was already.</summary>
    public bool TryDeliver(string workerId, string operationName, uint attempt)
    {
        var entry = _workers.GetOrAdd(workerId, static _ => new Entry());
        lock (entry)
        {
            return entry.Delivered.Add((operationName, attempt));
        }
    }

    /// <summary>Keeps only the delivered leases the state still holds for the worker, so the set stays bounded.</summary>
    public void KeepDelivered(string workerId, Func<string, uint, bool> stillLeased)
    {
        if (!_workers.TryGetValue(workerId, out var entry))
        {
            return;
        }

        lock (entry)
        {
            entry.Delivered.RemoveWhere(lease => !stillLeased(lease.Operation, lease.Attempt));
        }
    }

    /// <summary>Applies a heartbeat's blob news to the directory.</summary>
    public void Blobs(string workerId, IEnumerable<Digest> stored, IEnumerable<Digest> evicted)
    {
        var entry = _workers.GetOrAdd(workerId, static _ => new Entry());
        lock (entry)
        {
            foreach (var digest in evicted)
            {
                entry.Blobs.Remove((digest.Hash, digest.SizeBytes));
            }

            foreach (var digest in stored)
            {
                if (entry.Blobs.Count >= _blobHintsPerWorkerMax)
                {
                    break;
                }

                entry.Blobs.Add((digest.Hash, digest.SizeBytes));
            }
        }
    }

    /// <summary>Peer endpoints of workers believed to hold the blob, except <paramref name="excludeWorkerId"/>.</summary>
    public List<string> WhereIs(Digest digest, string excludeWorkerId)
    {
        var peers = new List<string>();
        foreach (var (id, entry) in _workers)
        {
            if (id == excludeWorkerId)
            {
                continue;
            }

            lock (entry)
            {
                if (entry.PeerEndpoint.Length > 0 && entry.Blobs.Contains((digest.Hash, digest.SizeBytes)))
                {
                    peers.Add(entry.PeerEndpoint);
                }
            }
        }

        return peers;
    }

    private sealed class Entry
    {
        public long LastSeenUnixMs;

        public string? Incarnation { get; set; }

        public string PeerEndpoint { get; set; } = "";

        public HashSet<(string Operation, uint Attempt)> Delivered { get; } = new();

        public HashSet<(string Hash, long Size)> Blobs { get; } = new();
    }
}
