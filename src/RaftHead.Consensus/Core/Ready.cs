namespace RaftHead.Consensus.Core;

/// <summary>
/// Work the driver must do, in this order: persist <see cref="Snapshot"/>, <see cref="Entries"/> and
/// <see cref="HardState"/> and make them durable (one sync, when <see cref="MustSync"/>); then send
/// <see cref="Messages"/>; then apply <see cref="Snapshot"/> and <see cref="CommittedEntries"/> to the state machine;
/// then call <see cref="RaftNode.Advance"/> and report <see cref="PersistedThrough"/> with
/// <see cref="RaftNode.ReportPersisted"/>. A leader's appends, heartbeats, snapshot chunks and TimeoutNow may
/// leave before the sync: they promise nothing about this node's disk, and the commit index they carry counts
/// this node only for what an earlier report made durable. Votes and acknowledgements must wait for the sync.
/// </summary>
public sealed record Ready
{
    /// <summary>Leader or role changed since the previous Ready; null when unchanged.</summary>
    public SoftState? SoftState { get; init; }

    /// <summary>Null when unchanged since the previous Ready.</summary>
    public HardState? HardState { get; init; }

    /// <summary>Entries to append to stable storage (may overwrite a conflicting suffix).</summary>
    public IReadOnlyList<LogEntry> Entries { get; init; } = Array.Empty<LogEntry>();

    /// <summary>A snapshot received from the leader, to persist (replacing the log) and to restore.</summary>
    public Snapshot? Snapshot { get; init; }

    public IReadOnlyList<LogEntry> CommittedEntries { get; init; } = Array.Empty<LogEntry>();

    public IReadOnlyList<Message> Messages { get; init; } = Array.Empty<Message>();

    public IReadOnlyList<ReadState> ReadStates { get; init; } = Array.Empty<ReadState>();

    /// <summary>The term or the vote changed since the previous Ready (not only the commit index).</summary>
    public bool TermOrVoteChanged { get; init; }

    /// <summary>
    /// False when nothing that must survive a crash changed, so the driver may skip the sync. A commit index alone
    /// does not need one: a node that loses it learns it again from the leader (or, alone, from its own log), and
    /// recovery replays committed entries either way; syncing it cost every commit a second fsync on every node.
    /// </summary>
    public bool MustSync => TermOrVoteChanged || Entries.Count > 0 || Snapshot is not null;

    /// <summary>
    /// The last log position this Ready writes (its last entry, else its snapshot), null when it writes none: once
    /// synced, the driver reports it with <see cref="RaftNode.ReportPersisted"/>, and only then does a leader count
    /// itself for these entries.
    /// </summary>
    public (long Index, long Term)? PersistedThrough =>
        Entries.Count > 0 ? (Entries[^1].Index, Entries[^1].Term)
        : Snapshot is not null ? (Snapshot.Index, Snapshot.Term)
        : null;
}
