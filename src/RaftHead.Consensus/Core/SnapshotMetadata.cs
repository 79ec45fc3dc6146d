using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Core;

/// <summary>Where a snapshot sits in the log and which membership was in force at that point.</summary>
public sealed record SnapshotMetadata(long Index, long Term, ClusterMembership Membership)
{
    public static SnapshotMetadata Empty { get; } = new(0, 0, ClusterMembership.Empty);

    public bool SamePosition(SnapshotMetadata other) => Index == other.Index && Term == other.Term;
}
