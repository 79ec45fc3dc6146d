namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>Bounds of one simulated run; every duration is virtual milliseconds.</summary>
public sealed record SimulatorOptions
{
    /// <summary>Faults, partitions and new client values happen only during this phase.</summary>
    public long ActiveMs { get; init; } = 12_000;

    /// <summary>After healing everything, the cluster must converge within this budget.</summary>
    public long QuietMsMax { get; init; } = 12_000;

    public long TickMs { get; init; } = 10;

    /// <summary>Ids beyond the initial voters that membership changes may add (ids are never reused).</summary>
    public int SpareNodesMax { get; init; } = 2;

    public int OutstandingValuesMax { get; init; } = 8;

    /// <summary>When set, nodes store their log in real <see cref="RaftHead.Consensus.Log.WriteAheadLog"/>s under this directory.</summary>
    public string? WalDirectory { get; init; }

    /// <summary>Instead of random faults, play Figure 8 of the Raft paper (five voters, seeded timing), then heal.</summary>
    public bool Figure8 { get; init; }

    /// <summary>
    /// One voter and two learners, the voter never joined by another: it commits on its own sync alone, so its own
    /// durability is the whole commit quorum, and power cuts inside its sync are frequent. Learners apply what they
    /// are told is committed, so a commit index that left before the voter's entry was durable shows up as an entry
    /// a learner applied and the restarted voter no longer has.
    /// </summary>
    public bool SoleVoter { get; init; }

    public static SimulatorOptions SoleVoterRun(SimulatorOptions? options = null) =>
        (options ?? new SimulatorOptions()) with { SoleVoter = true };

    /// <summary>The Figure 8 script; it is over within a few virtual seconds, so the active phase is shorter.</summary>
    public static SimulatorOptions Figure8Script(SimulatorOptions? options = null) =>
        (options ?? new SimulatorOptions()) with { Figure8 = true, ActiveMs = 5_000 };
}
