namespace RaftHead.Consensus.Driver;

/// <summary>
/// Back-pressure: the node refused a request because one of its bounds is reached (<see cref="Reason"/>). Nothing
/// was proposed or read; retry later (RESOURCE_EXHAUSTED).
/// </summary>
public sealed class RaftOverloadedException : Exception
{
    public RaftOverloadedException(long nodeId)
        : this(nodeId, RaftOverloadReason.UncommittedEntries)
    {
    }

    public RaftOverloadedException(long nodeId, RaftOverloadReason reason)
        : base(reason switch
        {
            RaftOverloadReason.RequestQueueFull => $"Node {nodeId} has too many queued requests; retry later.",
            RaftOverloadReason.PeerQueueFull => $"Node {nodeId} has too many queued peer messages; retry later.",
            _ => $"Node {nodeId} has too many uncommitted entries; retry later.",
        })
    {
        NodeId = nodeId;
        Reason = reason;
    }

    public long NodeId { get; }

    public RaftOverloadReason Reason { get; }
}
