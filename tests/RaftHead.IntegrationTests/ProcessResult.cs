namespace RaftHead.IntegrationTests;

/// <summary>How a child process ended and everything it printed (stdout and stderr interleaved as received).</summary>
public sealed record ProcessResult(string Command, int ExitCode, string StandardOutput, string StandardError, TimeSpan Elapsed)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>A readable account for assertion messages.</summary>
    public string Describe() =>
        $"$ {Command}\nexit code {ExitCode} after {Elapsed.TotalSeconds:F1} s\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}
