using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Driver;

/// <summary>A consistent picture of one node, published by the driver loop after each batch of work.</summary>
public sealed record RaftStatus(
    long NodeId,
    RaftRole Role,
    long Term,
    long Leader,
    string? LeaderAddress,
    long CommitIndex,
    long AppliedIndex,
    long SnapshotIndex,
    long LastIndex,
    ClusterMembership Membership,
    long SnapshotsTaken,
    long SnapshotsInstalled)
{
    public bool IsLeader => Role == RaftRole.Leader;
}
