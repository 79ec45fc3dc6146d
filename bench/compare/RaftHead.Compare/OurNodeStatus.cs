namespace RaftHead.Compare;

/// <summary>The JSON a node host returns from Control/Status (tests/.../Cluster/NodeStatus.cs).</summary>
internal sealed record OurNodeStatus(long NodeId, string Role, long Term, long Leader, long CommitIndex, long AppliedIndex, long SnapshotIndex, long LastIndex, long SnapshotsTaken, long SnapshotsInstalled)
{
    public bool IsLeader => Role == "Leader";
}
