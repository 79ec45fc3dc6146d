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

    /// <summary>Skips the Execute and failover cases (the single node and <c>rh up</c> are not started): the scale phase alone.</summary>
    public bool SkipExecute { get; init; }

    /// <summary>Operations the drain case queues with leasing paused (within <see cref="UnfinishedOperationsMax"/>); 0 skips it.</summary>
    public int DrainOperations { get; init; } = 9_000;

    /// <summary>The drain case stops here, drained or not.</summary>
    public double DrainSeconds { get; init; } = 60;

    /// <summary>The whole run stops here, whatever is left.</summary>
    public TimeSpan RunLimit { get; init; } = TimeSpan.FromMinutes(15);

    public static ClusterOptions Quick(ClusterOptions o) => o with { CaseSeconds = 2, CaseCallsMax = 1_000, Kills = 20, CpuWindowSeconds = 5 };
}
