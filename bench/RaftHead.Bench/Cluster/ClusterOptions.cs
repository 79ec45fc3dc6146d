namespace RaftHead.Bench.Cluster;

/// <summary>Bounds of the <c>cluster</c> scenario; <c>--quick</c> shortens every case.</summary>
internal sealed record ClusterOptions
{
    /// <summary>Length of one latency or rate case.</summary>
    public double CaseSeconds { get; init; } = 5;

    /// <summary>Calls of one case at most.</summary>
    public int CaseCallsMax { get; init; } = 3_000;

    public int Clients { get; init; } = 64;

    public int Slots { get; init; } = 2;

    public int Kills { get; init; } = 20;

    public int SimulatedWorkers { get; init; } = 1_024;

    /// <summary>Simulated workers that also lease and complete work (instantly).</summary>
    public int LeasingWorkers { get; init; } = 4;

    /// <summary>Length of each leader CPU window.</summary>
    public double CpuWindowSeconds { get; init; } = 10;

    /// <summary>The scheduler's default bound on unfinished operations, which the queue-full case submits past.</summary>
    public int UnfinishedOperationsMax { get; init; } = 10_000;

    public int BasePort { get; init; } = 47_100;

    public string RunAsUser { get; init; } = "rh-runner";

    /// <summary>The <c>rh</c> executable; by default the Release build of src/RaftHead.Cli found above the working directory.</summary>
    public string? RhPath { get; init; }

    public string TempRoot { get; init; } = Path.GetTempPath();

    public string? OutPath { get; init; }

    public bool SkipFailover { get; init; }

    public bool SkipScale { get; init; }

    /// <summary>The whole run stops here, whatever is left.</summary>
    public TimeSpan RunLimit { get; init; } = TimeSpan.FromMinutes(15);

    public static ClusterOptions Quick(ClusterOptions o) => o with { CaseSeconds = 2, CaseCallsMax = 1_000, Kills = 20, CpuWindowSeconds = 5 };
}
