namespace RaftHead.Head.Frontend;

/// <summary>Bounds of <see cref="ForwardingSchedulerLog"/>. Units in the names.</summary>
public sealed record ForwardingOptions
{
    /// <summary>A forwarded proposal waits this long for the leader's answer.</summary>
    public int ForwardTimeoutMs { get; init; } = 10_000;

    /// <summary>After the leader's answer, this replica waits this long to apply the result itself.</summary>
    public int ApplyWaitMs { get; init; } = 10_000;

    /// <summary>Leaders followed for one proposal when each names a successor.</summary>
    public int HopsMax { get; init; } = 3;
}
