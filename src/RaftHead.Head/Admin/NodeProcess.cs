using System.Diagnostics;

namespace RaftHead.Head.Admin;

/// <summary>Which operating-system process a node is, so an operator can tell a restarted node from a long-lived one.</summary>
public sealed record NodeProcess(int Pid, DateTimeOffset StartedAt)
{
    /// <summary>This process, read once: neither value changes while it runs.</summary>
    public static NodeProcess Current { get; } = ReadCurrent();

    private static NodeProcess ReadCurrent()
    {
        using var process = Process.GetCurrentProcess();
        return new NodeProcess(Environment.ProcessId, new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero));
    }
}
