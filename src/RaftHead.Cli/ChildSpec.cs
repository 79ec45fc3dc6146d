namespace RaftHead.Cli;

/// <summary>One child process a <see cref="ProcessSupervisor"/> keeps running.</summary>
/// <param name="Name">Prefixes its output lines (<c>head-1 | ...</c>).</param>
/// <param name="FileName">The executable.</param>
/// <param name="Arguments">Its arguments, passed as they are (no shell).</param>
public sealed record ChildSpec(string Name, string FileName, IReadOnlyList<string> Arguments)
{
    /// <summary>Started again after it dies (unless the supervisor is stopping).</summary>
    public bool Restart { get; init; } = true;

    /// <summary>Children stop in ascending order of this, those of equal order together (workers before the heads they use).</summary>
    public int StopOrder { get; init; }

    /// <summary>Exit codes that mean a restart cannot help (a usage error): the supervisor gives up instead.</summary>
    public IReadOnlyList<int> FatalExitCodes { get; init; } = [CliFailure.ExitUsage];
}
