using RaftHead.Consensus.Core;

namespace RaftHead.Consensus.Log;

/// <summary>
/// Stable storage for one node's log. The core only reads through it (and compacts through
/// <see cref="Compact"/>); the driver writes each Ready through <see cref="Append"/>,
/// <see cref="SetHardState"/> and <see cref="ApplySnapshot"/>, then calls <see cref="Sync"/> once before sending
/// any of the Ready's messages. Writes before <see cref="Sync"/> may be lost by a crash; writes after it may not.
/// Indexes between <see cref="FirstIndex"/> and <see cref="LastIndex"/> are always present; the entry at
/// FirstIndex-1 is represented by the snapshot (its term is still answerable).
/// </summary>
public interface IRaftStorage
{
    RaftInitialState InitialState();

    /// <summary>Snapshot index + 1.</summary>
    long FirstIndex { get; }

    /// <summary>Snapshot index when the log is empty.</summary>
    long LastIndex { get; }

    Snapshot Snapshot { get; }

    /// <summary>Term of the entry at <paramref name="index"/>, for FirstIndex-1 ≤ index ≤ LastIndex.</summary>
    bool TryGetTerm(long index, out long term);

    /// <summary>Entries in [low, highExclusive), stopping early once <paramref name="maxBytes"/> is exceeded (at least one entry).</summary>
    IReadOnlyList<LogEntry> Entries(long low, long highExclusive, long maxBytes);

    /// <summary>Appends entries; an entry at an index already present replaces it and everything after it.</summary>
    void Append(IReadOnlyList<LogEntry> entries);

    void SetHardState(HardState hardState);

    /// <summary>Replaces the whole log with a snapshot received from the leader.</summary>
    void ApplySnapshot(Snapshot snapshot);

    /// <summary>
    /// Makes <paramref name="snapshot"/> the new base of the log, dropping entries at or below its index. Does nothing
    /// when the log is already compacted to or past it.
    /// </summary>
    void Compact(Snapshot snapshot);

    /// <summary>
    /// Makes <paramref name="snapshot"/> durable without changing the log, so that a later <see cref="Compact"/> with
    /// the same object only has to record it. The one member that may run off the loop, concurrently with the others
    /// (the driver runs it on a background thread, one at a time); a crash during or after it leaves the log on its
    /// previous snapshot. Storage that keeps snapshots only in memory has nothing to do here.
    /// </summary>
    void PrepareSnapshot(Snapshot snapshot)
    {
    }

    /// <summary>
    /// Where the core puts the chunks of a snapshot from the leader as they arrive: the one write the core makes
    /// through storage while it steps a message (the sink's, never the log's), at most one at a time; beginning one
    /// abandons the previous. The completed snapshot comes back through <see cref="ApplySnapshot"/>, which records it
    /// without writing its data again. By default the bytes are held in memory.
    /// </summary>
    IIncomingSnapshotSink BeginIncomingSnapshot(SnapshotMetadata metadata, long totalBytes) => new MemorySnapshotSink(metadata, totalBytes);

    /// <summary>Durability barrier for every write so far.</summary>
    void Sync();
}
