namespace RaftHead.Consensus.Core;

/// <summary>
/// A Raft message. One shape for all types, as in the Raft paper's RPCs folded together; fields a type does
/// not use stay at their defaults.
/// </summary>
public sealed record Message
{
    public required MessageType Type { get; init; }

    public long From { get; init; }

    public long To { get; init; }

    /// <summary>Sender's term; zero for ReadIndex forwarding, which is term-agnostic.</summary>
    public long Term { get; init; }

    /// <summary>Append: term of the entry before <see cref="Entries"/>. Votes: candidate's last term. Rejections: hint term.</summary>
    public long LogTerm { get; init; }

    /// <summary>Append: index before <see cref="Entries"/>. Responses: last matched or rejected index. Votes: candidate's last index.</summary>
    public long Index { get; init; }

    public IReadOnlyList<LogEntry> Entries { get; init; } = Array.Empty<LogEntry>();

    public long Commit { get; init; }

    public bool Reject { get; init; }

    /// <summary>On a rejected append: the follower's guess of the last index that may match.</summary>
    public long RejectHint { get; init; }

    /// <summary>ReadIndex correlation, carried through heartbeats.</summary>
    public ReadOnlyMemory<byte> Context { get; init; }

    /// <summary>Vote/TimeoutNow: this election is a leadership transfer, so leader leases must not block it.</summary>
    public bool LeaderTransfer { get; init; }

    public SnapshotMetadata? SnapshotMetadata { get; init; }

    /// <summary>Snapshot chunk: byte offset of <see cref="ChunkData"/>. Chunk response: bytes received so far.</summary>
    public long ChunkOffset { get; init; }

    public ReadOnlyMemory<byte> ChunkData { get; init; }

    public long SnapshotTotalBytes { get; init; }

    public override string ToString() =>
        $"{Type} {From}->{To} t{Term} i{Index} lt{LogTerm} c{Commit} n{Entries.Count}{(Reject ? " REJECT h" + RejectHint : "")}";
}
