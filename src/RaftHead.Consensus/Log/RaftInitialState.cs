using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Log;

/// <summary>What a node restarts from: its last durable hard state and the membership of its snapshot.</summary>
public sealed record RaftInitialState(HardState HardState, ClusterMembership Membership);
