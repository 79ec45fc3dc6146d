namespace RaftHead.Cli.Demo;

/// <summary>What a run of <c>rh demo</c> saw, filled in as it goes: a failed run still tells how far it came.</summary>
internal sealed class DemoReport
{
    public required string DataDirectory { get; init; }

    public bool Kept { get; set; }

    public IReadOnlyList<string> Heads { get; set; } = [];

    public int Workers { get; set; }

    /// <summary>The leader once the cluster was ready.</summary>
    public long? FirstLeader { get; set; }

    public long? ReadyMs { get; set; }

    public LeaderChange? LeaderChange { get; set; }

    public List<BuildFacts> Builds { get; } = [];

    public ProgramRun? Program { get; set; }

    /// <summary>Why the demo failed, in one line; null when it succeeded.</summary>
    public string? Failure { get; set; }

    public bool Succeeded => Failure is null;
}
