namespace RaftHead.Bench.Stragglers;

/// <summary>Bounds of one <c>stragglers</c> run; every wait stops at its deadline, every loop at its count.</summary>
internal sealed record StragglerOptions
{
    /// <summary>Actions submitted at once in one round, each with its own input file (so each action digest differs).</summary>
    public int Actions { get; init; } = 200;

    /// <summary>Rounds of every case, the cases interleaved within each round (a, b, c, d, e, a, b, …).</summary>
    public int Rounds { get; init; } = 2;

    /// <summary>How long one action sleeps on a normal worker.</summary>
    public int RunMs { get; init; } = 200;

    /// <summary>How many times longer it sleeps on the slow worker.</summary>
    public int SlowFactor { get; init; } = 10;

    /// <summary>Earlier runs of the action class before the measured ones, so its median is known to the leader.</summary>
    public int WarmupActions { get; init; } = 3;

    /// <summary>Execute calls under way at once (the default submits every action at once).</summary>
    public int Concurrency { get; init; } = 200;

    /// <summary>Leases a worker holds beyond its one slot; 0, so a queued action waits at the head, not behind a slow run.</summary>
    public int LeaseAhead { get; init; }

    /// <summary>The floor of case (e); case (d) keeps every default of <see cref="Head.Scheduling.SpeculationOptions"/>.</summary>
    public long LowFloorMs { get; init; } = 500;

    /// <summary>Cases run, by letter (a–e).</summary>
    public string Cases { get; init; } = "abcde";

    /// <summary>Deadline of one Execute call, and of the warm-up and of each wait for workers.</summary>
    public double CallSeconds { get; init; } = 120;

    public string RunAsUser { get; init; } = "rh-runner";

    public string TempRoot { get; init; } = Path.GetTempPath();

    /// <summary>A hard stop for the whole run: a hang becomes a cancellation, not a stuck process.</summary>
    public TimeSpan RunLimit { get; init; } = TimeSpan.FromMinutes(20);

    public string? OutPath { get; init; }
}
