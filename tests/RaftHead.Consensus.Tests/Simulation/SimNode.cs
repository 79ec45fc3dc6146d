using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>One simulated server: the core and the driver's Ready processing while it runs, the storage that outlives it, its application.</summary>
public sealed class SimNode
{
    public SimNode(long id, ISimulatedDisk storage)
    {
        Id = id;
        Storage = storage;
    }

    public long Id { get; }

    public RaftNode? Raft { get; set; }

    /// <summary>The driver's own per-Ready code, run on this node's core.</summary>
    public ReadyProcessor? Processor { get; set; }

    public SimStorageProbe? Probe { get; set; }

    public ISimulatedDisk Storage { get; set; }

    public SimStateMachine StateMachine { get; set; } = new();

    public bool Up => Raft is not null;

    /// <summary>Removed from the cluster and shut down for good.</summary>
    public bool Retired { get; set; }

    public long CommitChecked { get; set; }

    /// <summary>A Process event is queued: inputs stepped meanwhile share its Readies, as in the driver's loop.</summary>
    public bool ProcessScheduled { get; set; }

    /// <summary>The highest commit index seen since the process started; it must never go down while it runs.</summary>
    public long CommitSeen { get; set; }

    public ClusterMembership Membership { get; set; } = ClusterMembership.Empty;

    public long LeaderTermChecked { get; set; }

    /// <summary>Reads in flight here: completion, and how many values were committed anywhere when the read began.</summary>
    public List<(TaskCompletionSource Completion, int CommittedBefore, long Started)> PendingReads { get; } = new();
}
