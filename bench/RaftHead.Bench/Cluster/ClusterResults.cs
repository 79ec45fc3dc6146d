namespace RaftHead.Bench.Cluster;

/// <summary>Everything the cluster scenario measured, for the report.</summary>
internal sealed class ClusterResults
{
    public string RhPath { get; set; } = "";

    public string LoadBefore { get; set; } = "";

    public string LoadAfterExecute { get; set; } = "";

    public string LoadAfter { get; set; } = "";

    public LoadRound? Spawn { get; set; }

    /// <summary>Fresh no-op Execute: each target with one client, then each with many.</summary>
    public List<LoadRound> Execute { get; } = new();

    /// <summary>Cache-hit Execute, one client, each target.</summary>
    public List<LoadRound> Cached { get; } = new();

    public List<double> FailoverMs { get; } = new();

    public List<string> FailoverErrors { get; } = new();

    /// <summary>Why the failover rounds stopped early or one round had no answer, if so.</summary>
    public string? FailoverNote { get; set; }

    public int ScaleLeaderPid { get; set; }

    /// <summary>The term when the CPU windows began and after the flow: equal when leadership held throughout.</summary>
    public long ScaleTermBefore { get; set; }

    public long ScaleTermAfter { get; set; }

    public double RegisterSeconds { get; set; }

    /// <summary>Leader CPU as a share of one core.</summary>
    public double CpuIdle { get; set; }

    public double CpuHeartbeats { get; set; }

    public double CpuFlow { get; set; }

    public double HeartbeatsPerSecond { get; set; }

    public long HeartbeatFailures { get; set; }

    public LoadRound? Flow { get; set; }

    public double GrantsPerSecond { get; set; }

    public double CompletionsPerSecond { get; set; }

    /// <summary>The drain case: operations queued with leasing paused, then leased and completed by every simulated worker.</summary>
    public long DrainQueued { get; set; }

    public double DrainFillSeconds { get; set; }

    public long DrainGranted { get; set; }

    public long DrainCompleted { get; set; }

    public double DrainSeconds { get; set; }

    public double DrainCpu { get; set; }

    public long DrainTermAfter { get; set; }

    /// <summary>CPU of all three heads and of this process (the simulated workers) over the drain, shares of one core.</summary>
    public double DrainHeadsCpu { get; set; }

    public double DrainBenchCpu { get; set; }

    public long DrainFailures { get; set; }

    /// <summary>Operations still unfinished when the drain stopped making progress (0: all done); the rates end at the last progress.</summary>
    public long DrainStalled { get; set; }

    /// <summary>The CPU window: until all were done, or the stall was noticed.</summary>
    public double DrainWindowSeconds { get; set; }

    /// <summary>Leader changes the simulated workers followed (by the end of the drain).</summary>
    public int DrainLeaderMoves { get; set; }

    public string DrainLoad { get; set; } = "";

    public long QueueAccepted { get; set; }

    public long QueueRefused { get; set; }

    public double QueueSeconds { get; set; }

    public double QueueRefusedP50Us { get; set; }

    public double QueueRefusedP99Us { get; set; }
}
