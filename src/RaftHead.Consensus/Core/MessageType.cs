namespace RaftHead.Consensus.Core;

public enum MessageType
{
    Append,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    PreVote,
    PreVoteResponse,
    Vote,
    VoteResponse,

    /// <summary>One chunk of an InstallSnapshot transfer.</summary>
    SnapshotChunk,

    /// <summary>Acknowledges the bytes of a snapshot transfer received so far.</summary>
    SnapshotChunkResponse,

    /// <summary>Leadership transfer: the target campaigns at once, bypassing pre-vote and leases.</summary>
    TimeoutNow,

    /// <summary>A follower forwarding a linearizable read request to its leader.</summary>
    ReadIndex,
    ReadIndexResponse,
}
