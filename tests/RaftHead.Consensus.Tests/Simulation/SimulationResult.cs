namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>Counters from one simulated run, for sanity checks that the fault model really bites.</summary>
public sealed record SimulationResult(
    int Seed,
    long Steps,
    long VirtualMs,
    int Acknowledged,
    int Elections,
    int Crashes,
    int MembershipChanges,
    int Snapshots,
    int ReadsConfirmed,
    int ProposalsCompleted,
    int Figure8Formed);
