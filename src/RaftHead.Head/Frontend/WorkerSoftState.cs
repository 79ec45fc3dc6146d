using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Scheduling;

namespace RaftHead.Head.Frontend;

/// <summary>
/// What the leader knows of its workers without the log: when each was last heard from, its process incarnation and
/// peer endpoint, the leases already handed to it, and which blobs it said it holds. Lost on a leader change by
/// design: a new leader rebuilds it from the next heartbeats (and grants a grace period before judging silence).
/// <para>
/// Also one signal per worker for its Lease polls: a single watcher of the applied state pulses a worker's signal only
/// when that worker's leases changed, so an apply wakes the polls it concerns and not every poll of every worker (a
/// thousand polls woken by each of thousands of applies a second cost more than the applies).
/// </para>
/// </summary>
public sealed class WorkerSoftState
{
    private readonly ConcurrentDictionary<string, Entry> _workers = new(StringComparer.Ordinal);
    private int _watching;
    private long _leaseWakes;

    public WorkerSoftState(int blobHintsPerWorkerMax)
    {
        Directory = new BlobDirectory(blobHintsPerWorkerMax);
    }

    /// <summary>The blobs workers reported holding (where-is, locality).</summary>
    public BlobDirectory Directory { get; }

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
            }
        }

        if (restarted)
        {
            // A new process starts with an empty store.
            Directory.Forget(workerId);
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

    /// <summary>Drops the worker; its waiting Lease polls wake (and find it gone).</summary>
    public void Forget(string workerId)
    {
        if (_workers.TryRemove(workerId, out var entry))
        {
            entry.Leases.Pulse();
        }

        Directory.Forget(workerId);
    }

    /// <summary>Signals pulsed for waiting Lease polls so far (each one wakes the polls of one worker).</summary>
    public long LeaseWakes => Interlocked.Read(ref _leaseWakes);

    /// <summary>
    /// Registers a waiting Lease poll of the worker until disposed. Take <see cref="LeaseWatch.Next"/> before reading the
    /// state: it completes when a later state changes the worker's leases (or the worker is forgotten).
    /// </summary>
    public LeaseWatch WatchLeases(string workerId)
    {
        var entry = _workers.GetOrAdd(workerId, static _ => new Entry());
        Interlocked.Increment(ref entry.Polls);
        return new LeaseWatch(entry);
    }

    /// <summary>
    /// Pulses the signal of each worker with a waiting poll whose leases differ from those this method saw for it last.
    /// The state's per-worker usage is a new value whenever its leases change, so a reference comparison is the test.
    /// Called by one watcher at a time (<see cref="StartLeaseWatcher"/>, or a test).
    /// </summary>
    public void WakeLeaseChanges(SchedulerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        foreach (var (workerId, entry) in _workers)
        {
            // A worker nobody polls for is skipped; its stale record costs at most one spurious wake of its next poll.
            if (Volatile.Read(ref entry.Polls) == 0)
            {
                continue;
            }

            var usage = state.UsageOf(workerId);
            if (!ReferenceEquals(usage, entry.LeasesSeen))
            {
                entry.LeasesSeen = usage;
                Interlocked.Increment(ref _leaseWakes);
                entry.Leases.Pulse();
            }
        }
    }

    /// <summary>Starts the watcher behind <see cref="WakeLeaseChanges"/> once: it looks after every apply that changed any worker's leases.</summary>
    public void StartLeaseWatcher(ISchedulerLog log, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (Interlocked.Exchange(ref _watching, 1) == 0)
        {
            // Most applies (submits, cache updates) leave every worker's leases alone: one comparison skips them.
            object? usageSeen = null;
            _ = Task.Run(
                () => AppliedStates.FollowAsync(
                    log,
                    state =>
                    {
                        if (!ReferenceEquals(state.Usage, usageSeen))
                        {
                            WakeLeaseChanges(state);
                            usageSeen = state.Usage;
                        }
                    },
                    stopping),
                CancellationToken.None);
        }
    }

    /// <summary>Marks a lease as handed to its worker; false when it was already.</summary>
    /// <param name="stateIndex">The applied index of the state the lease was read from.</param>
    public bool TryDeliver(string workerId, string operationName, uint attempt, long stateIndex)
    {
        var entry = _workers.GetOrAdd(workerId, static _ => new Entry());
        lock (entry)
        {
            return entry.Delivered.TryAdd((operationName, attempt), stateIndex);
        }
    }

    /// <summary>
    /// Keeps only the delivered leases the state still holds for the worker, so the set stays bounded. A worker polls
    /// on several calls at once, each reading the state when it wakes: a poll holding an older state than the one a
    /// lease was delivered from would find it not leased yet, and dropping it would hand it out again. So a record is
    /// judged only by a state at least as new as the one it was delivered from.
    /// </summary>
    /// <param name="stateIndex">The applied index of the state <paramref name="stillLeased"/> reads.</param>
    public void KeepDelivered(string workerId, long stateIndex, Func<string, uint, bool> stillLeased)
    {
        if (!_workers.TryGetValue(workerId, out var entry))
        {
            return;
        }

        lock (entry)
        {
            foreach (var (lease, deliveredAt) in entry.Delivered)
            {
                if (deliveredAt <= stateIndex && !stillLeased(lease.Operation, lease.Attempt))
                {
                    entry.Delivered.Remove(lease);
                }
            }
        }
    }

    /// <summary>Applies a heartbeat's blob news to the directory.</summary>
    public void Blobs(string workerId, IEnumerable<Digest> stored, IEnumerable<Digest> evicted) =>
        Directory.Update(workerId, stored, evicted);

    /// <summary>Peer endpoints of workers believed to hold the blob, except <paramref name="excludeWorkerId"/>.</summary>
    public List<string> WhereIs(Digest digest, string excludeWorkerId)
    {
        var holders = new List<string>();
        Directory.HoldersOf(digest, holders);
        var peers = new List<string>(holders.Count);
        foreach (var id in holders)
        {
            if (id != excludeWorkerId && _workers.TryGetValue(id, out var entry))
            {
                lock (entry)
                {
                    if (entry.PeerEndpoint.Length > 0)
                    {
                        peers.Add(entry.PeerEndpoint);
                    }
                }
            }
        }

        return peers;
    }

    /// <summary>
    /// Adds every worker that registered here with <paramref name="peerEndpoint"/> to <paramref name="workerIds"/>: more
    /// than one when a worker took over the address of one not yet forgotten. A scan, as only corrupt-blob reports ask.
    /// </summary>
    public void WorkersAtPeerEndpoint(string peerEndpoint, List<string> workerIds)
    {
        ArgumentNullException.ThrowIfNull(peerEndpoint);
        ArgumentNullException.ThrowIfNull(workerIds);
        foreach (var (id, entry) in _workers)
        {
            lock (entry)
            {
                if (entry.PeerEndpoint.Length > 0 && string.Equals(entry.PeerEndpoint, peerEndpoint, StringComparison.Ordinal))
                {
                    workerIds.Add(id);
                }
            }
        }
    }

    /// <summary>One waiting Lease poll of a worker; dispose when the poll ends.</summary>
    public sealed class LeaseWatch : IDisposable
    {
        private Entry? _entry;

        internal LeaseWatch(Entry entry) => _entry = entry;

        /// <summary>Completes at the next change of the worker's leases after it is taken.</summary>
        public Task Next => (_entry ?? throw new ObjectDisposedException(nameof(LeaseWatch))).Leases.Next;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _entry, null) is { } entry)
            {
                Interlocked.Decrement(ref entry.Polls);
            }
        }
    }

    internal sealed class Entry
    {
        public long LastSeenUnixMs;

        /// <summary>Lease polls of this worker now waiting.</summary>
        public int Polls;

        /// <summary>The worker's usage as the lease watcher saw it last (only the watcher writes it).</summary>
        public WorkerUsage? LeasesSeen;

        public ChangeFeed Leases { get; } = new();

        public string? Incarnation { get; set; }

        public string PeerEndpoint { get; set; } = "";

        /// <summary>Leases handed to the worker, with the applied index of the state each was read from.</summary>
        public Dictionary<(string Operation, uint Attempt), long> Delivered { get; } = new();
    }
}
