namespace RaftHead.Consensus.Replication;

public enum ProgressState
{
    /// <summary>Next index unknown: send one append at a time and wait for the answer.</summary>
    Probe,

    /// <summary>Follower is keeping up: stream appends optimistically, bounded by the in-flight window.</summary>
    Replicate,

    /// <summary>The entries the follower needs are compacted: transfer a snapshot, nothing else.</summary>
    Snapshot,
}
