namespace RaftHead.Cli;

/// <summary>Bounds of a <see cref="ProcessSupervisor"/>, in milliseconds.</summary>
public sealed record SupervisorOptions
{
    public int RestartBackoffInitialMs { get; init; } = 500;

    public int RestartBackoffMaxMs { get; init; } = 8_000;

    /// <summary>A child that lived this long before dying is restarted from the initial backoff again.</summary>
    public int StableAfterMs { get; init; } = 30_000;

    /// <summary>This many deaths in a row, each before <see cref="StableAfterMs"/>, and the supervisor gives up.</summary>
    public int QuickDeathsMax { get; init; } = 5;

    /// <summary>How long a child has between SIGTERM and SIGKILL.</summary>
    public int StopGraceMs { get; init; } = 10_000;

    /// <summary>
    /// Each child in a session of its own, so a terminal's Ctrl+C reaches only the supervisor, which then stops the
    /// children in order, rather than every child at once.
    /// </summary>
    public bool OwnSession { get; init; } = true;

    /// <summary>How long output still buffered after a child's exit may take to be written.</summary>
    public int OutputDrainMs { get; init; } = 2_000;
}
