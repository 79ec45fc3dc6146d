using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol.V1;

namespace RaftHead.Worker.Peer;

/// <summary>
/// Peers that sent this worker other bytes than the blob it asked for, waiting for a heartbeat to tell the heads, which
/// quarantine the sender: a peer skipped here for a while keeps serving its bad bytes to everyone else. Only a digest
/// (or size) mismatch is recorded, never a peer that merely could not be reached. Each report goes out once; a beat
/// that fails gives its batch back. Bounded: a report beyond the bound is dropped and counted, which costs little, as
/// one report is enough for the heads and the peer is skipped here all the same.
/// </summary>
public sealed class CorruptFetchReports
{
    /// <summary>What a worker sends of one check's finding at most; the rest is cut.</summary>
    public const int DetailCharsMax = 256;

    private readonly ConcurrentQueue<CorruptBlobReport> _pending = new();
    private readonly int _pendingMax;
    private int _pendingCount;
    private long _recorded;
    private long _dropped;

    /// <param name="pendingMax">Reports waiting for a heartbeat at most.</param>
    public CorruptFetchReports(int pendingMax = 1_024)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pendingMax);
        _pendingMax = pendingMax;
    }

    /// <summary>Reports waiting for a heartbeat.</summary>
    public int PendingCount => Volatile.Read(ref _pendingCount);

    /// <summary>Corrupt fetches recorded so far (whether or not they were kept).</summary>
    public long Recorded => Interlocked.Read(ref _recorded);

    /// <summary>Reports dropped because the queue was full (new ones, or a failed beat's batch given back).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Records that <paramref name="peer"/> answered a read of <paramref name="digest"/> with other bytes.</summary>
    /// <param name="peer">The endpoint as it was dialled (host:port), as the worker registered it.</param>
    /// <param name="digest">The blob asked for.</param>
    /// <param name="detail">What the check found, e.g. what the bytes hashed to.</param>
    public void Add(string peer, Digest digest, string detail)
    {
        ArgumentException.ThrowIfNullOrEmpty(peer);
        ArgumentNullException.ThrowIfNull(digest);
        ArgumentNullException.ThrowIfNull(detail);
        Interlocked.Increment(ref _recorded);
        Enqueue(new CorruptBlobReport
        {
            PeerEndpoint = peer,
            Digest = digest.Clone(),
            Detail = detail.Length <= DetailCharsMax ? detail : detail[..DetailCharsMax],
        });
    }

    /// <summary>Moves up to <paramref name="max"/> reports into <paramref name="batch"/> for one heartbeat.</summary>
    public void Take(int max, ICollection<CorruptBlobReport> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        while (batch.Count < max && _pending.TryDequeue(out var report))
        {
            Interlocked.Decrement(ref _pendingCount);
            batch.Add(report);
        }
    }

    /// <summary>Gives back a batch the heads did not take (the beat failed, or the head did not know this worker).</summary>
    public void Return(IEnumerable<CorruptBlobReport> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        foreach (var report in batch)
        {
            Enqueue(report);
        }
    }

    private void Enqueue(CorruptBlobReport report)
    {
        if (Interlocked.Increment(ref _pendingCount) > _pendingMax)
        {
            Interlocked.Decrement(ref _pendingCount);
            Interlocked.Increment(ref _dropped);
            return;
        }

        _pending.Enqueue(report);
    }
}
