using RaftHead.Consensus.Core;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>One simulated server: the core while it runs, the storage that outlives it, its application.</summary>
public sealed class SimNode
{
    public SimNode(long id, ISimulatedDisk storage)
    {
        Id = id;
        Storage = storage;
    }

    public long Id { get; }

    public RaftNode? Raft { get; set; }

    public ISimulatedDisk Storage { get; set; }

    public SimStateMachine StateMachine { get; set; } = new();

    public bool Up => Raft is not null;

    /// <summary>Removed from the cluster and shut down for good.</summary>
    public bool Retired { get; set; }

    public long CommitChecked { get; set; }

    public long LeaderTermChecked { get; set; }

    public List<(long Index, int AckedBefore)> PendingReadChecks { get; } = new();
}
