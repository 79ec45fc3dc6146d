namespace RaftHead.Consensus.Core;

/// <summary>Static configuration of one node. All durations are in ticks, all sizes in bytes, all bounds explicit.</summary>
public sealed record RaftConfig
{
    public required long NodeId { get; init; }

    /// <summary>Base election timeout; the actual timeout is drawn from [ElectionTicks, 2*ElectionTicks).</summary>
    public int ElectionTicks { get; init; } = 10;

    public int HeartbeatTicks { get; init; } = 1;

    /// <summary>Bound on unacknowledged append messages per follower in the Replicate state.</summary>
    public int MaxInflightMessages { get; init; } = 64;

    /// <summary>Bound on the entry bytes of one append message (at least one entry is always sent).</summary>
    public long MaxBatchBytes { get; init; } = 1024 * 1024;

    public int MaxEntriesPerMessage { get; init; } = 512;

    /// <summary>Size of one InstallSnapshot chunk.</summary>
    public int SnapshotChunkBytes { get; init; } = 512 * 1024;

    /// <summary>
    /// Largest snapshot a follower accepts. The receiver buffers a snapshot in memory, so a chunk declaring more
    /// is dropped (counted in <see cref="RaftNode.SnapshotChunksRejected"/>) rather than trusted.
    /// </summary>
    public long SnapshotBytesMax { get; init; } = 1024L * 1024 * 1024;

    /// <summary>Proposals are refused once this many entries are appended but not yet committed.</summary>
    public int MaxUncommittedEntries { get; init; } = 10_000;

    /// <summary>Bound on queued linearizable reads on a leader.</summary>
    public int MaxPendingReads { get; init; } = 4096;

    public bool PreVote { get; init; } = true;

    public bool CheckQuorum { get; init; } = true;

    /// <summary>Index the state machine has already applied (the driver's own durable watermark), for restarts.</summary>
    public long AppliedIndex { get; init; }

    public void Validate()
    {
        if (NodeId <= 0) throw new ArgumentException("NodeId must be positive (0 means 'none').");
        if (HeartbeatTicks <= 0) throw new ArgumentException("HeartbeatTicks must be positive.");
        if (ElectionTicks <= HeartbeatTicks) throw new ArgumentException("ElectionTicks must exceed HeartbeatTicks.");
        if (MaxInflightMessages <= 0) throw new ArgumentException("MaxInflightMessages must be positive.");
        if (MaxBatchBytes <= 0) throw new ArgumentException("MaxBatchBytes must be positive.");
        if (MaxEntriesPerMessage <= 0) throw new ArgumentException("MaxEntriesPerMessage must be positive.");
        if (SnapshotChunkBytes <= 0) throw new ArgumentException("SnapshotChunkBytes must be positive.");
        if (SnapshotBytesMax <= 0 || SnapshotBytesMax > Array.MaxLength) throw new ArgumentException($"SnapshotBytesMax must be in (0, {Array.MaxLength}]: snapshots are buffered in one array.");
        if (MaxUncommittedEntries <= 0) throw new ArgumentException("MaxUncommittedEntries must be positive.");
        if (MaxPendingReads <= 0) throw new ArgumentException("MaxPendingReads must be positive.");
        if (AppliedIndex < 0) throw new ArgumentException("AppliedIndex must not be negative.");
    }
}
