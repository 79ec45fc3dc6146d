using RaftHead.Consensus.Driver;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>The status a test node reports over the control API.</summary>
public sealed record NodeStatus(long NodeId, string Role, long Term, long Leader, long CommitIndex, long AppliedIndex, long SnapshotIndex, long LastIndex, long SnapshotsTaken, long SnapshotsInstalled)
{
    public bool IsLeader => Role == "Leader";

    public static NodeStatus From(RaftStatus s) =>
        new(s.NodeId, s.Role.ToString(), s.Term, s.Leader, s.CommitIndex, s.AppliedIndex, s.SnapshotIndex, s.LastIndex, s.SnapshotsTaken, s.SnapshotsInstalled);
}
