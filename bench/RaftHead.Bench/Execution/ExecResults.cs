namespace RaftHead.Bench.Execution;

/// <summary>Everything one <c>exec</c> run measured, for the report.</summary>
internal sealed record ExecResults
{
    public IReadOnlyList<ExecRound> Rounds { get; init; } = [];

    /// <summary>Stage split of the 1-client Execute calls (all measured rounds together).</summary>
    public IReadOnlyList<StageSplit> StagesOneClient { get; init; } = [];

    /// <summary>Stage split of the many-client Execute calls (all measured rounds together).</summary>
    public IReadOnlyList<StageSplit> StagesManyClients { get; init; } = [];

    /// <summary>The direct process starts measured, in report order.</summary>
    public IReadOnlyList<string> DirectKinds { get; init; } = [];

    /// <summary>How actions were isolated, as the runner said it at start-up.</summary>
    public string Isolation { get; init; } = "";

    /// <summary>The wrapper chain as started, e.g. <c>setsid unshare --net setpriv … -- /bin/true</c>.</summary>
    public string WrapperChain { get; init; } = "";

    public int ActionsUploaded { get; init; }

    public double ActionUploadSeconds { get; init; }

    public IReadOnlyList<MaterializeRound> Materialize { get; init; } = [];

    /// <summary>Serial replays of the per-file steps, each step timed alone over the whole tree.</summary>
    public IReadOnlyList<(string Step, double Seconds)> MaterializeSteps { get; init; } = [];

    public long TreeBytes { get; init; }

    public int TreeExecutables { get; init; }

    public double TreeUploadSeconds { get; init; }

    public double ColdMaterializeSeconds { get; init; }
}
