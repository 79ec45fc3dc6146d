namespace RaftHead.Consensus.Core;

/// <summary>The state that must be durable before any message that depends on it is sent.</summary>
public readonly record struct HardState(long Term, long Vote, long Commit)
{
    public bool IsEmpty => Term == 0 && Vote == 0 && Commit == 0;
}
