namespace RaftHead.Consensus.Core;

/// <summary>
/// Work the driver must do, in this order: persist <see cref="Snapshot"/>, <see cref="Entries"/> and
/// <see cref="HardState"/> and make them durable (one sync); then send <see cref="Messages"/> (a leader's appends,
/// heartbeats and snapshot chunks may leave before the sync when the commit index they carry is already durable,
/// provided no other input is stepped until the sync returned); then apply
/// <see cref="Snapshot"/> and <see cref="CommittedEntries"/> to the state machine; then call
/// <see cref="RaftNode.Advance"/>.
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
}
