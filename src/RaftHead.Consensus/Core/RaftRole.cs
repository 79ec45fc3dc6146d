namespace RaftHead.Consensus.Core;

/// <summary>The role a node plays in its current term.</summary>
public enum RaftRole
{
    Follower,
    PreCandidate,
    Candidate,
    Leader,

    /// <summary>A non-voting member: it replicates and applies the log but never campaigns.</summary>
    Learner,
}
