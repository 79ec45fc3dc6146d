namespace RaftHead.Bench.Stragglers;

/// <summary>
/// One case in one round. Wall time runs from the first Execute call to the last result; a latency is one call's, from
/// its start to its done Operation. The speculation figures are the head's (<c>GetNodeStatus.speculation</c>) right after
/// the last result, warm-up actions included (they are too few and too quick to be cloned).
/// </summary>
internal sealed record StragglerRound
{
    public required StragglerCase Case { get; init; }

    public required int Round { get; init; }

    public required int Actions { get; init; }

    public required double WallMs { get; init; }

    public required double P50Ms { get; init; }

    public required double P99Ms { get; init; }

    public required double MaxMs { get; init; }

    /// <summary>Results the slow worker produced (a won race counts for the worker whose result won).</summary>
    public required int ResultsFromSlow { get; init; }

    public required uint ClonesStarted { get; init; }

    public required uint ClonesWon { get; init; }

    /// <summary>Worker time held by runs that lost a race, from their lease to the winning result.</summary>
    public required long WastedWorkerMs { get; init; }

    public required int NondeterminismReports { get; init; }

    public required int Errors { get; init; }

    public string FirstError { get; init; } = "";
}
