namespace RaftHead.Consensus.Driver;

/// <summary>Back-pressure: too many entries are appended but not yet committed. Retry later (RESOURCE_EXHAUSTED).</summary>
public sealed class RaftOverloadedException : Exception
{
    public RaftOverloadedException(long nodeId)
        : base($"Node {nodeId} has too many uncommitted entries; retry later.")
    {
        NodeId = nodeId;
    }

    public long NodeId { get; }
}
