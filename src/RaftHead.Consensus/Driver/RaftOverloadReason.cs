namespace RaftHead.Consensus.Driver;

/// <summary>Which bound refused a request; both mean "retry later" (RESOURCE_EXHAUSTED at the edge).</summary>
public enum RaftOverloadReason
{
    /// <summary>The core holds <c>RaftConfig.MaxUncommittedEntries</c> appended but uncommitted entries.</summary>
    UncommittedEntries,

    /// <summary>The driver's request queue (<see cref="RaftDriverOptions.RequestQueueCapacity"/>) is full.</summary>
    RequestQueueFull,

    /// <summary>
    /// The peer queue (<see cref="RaftDriverOptions.PeerQueueCapacity"/>), which also carries membership changes and
    /// leadership transfers, is full.
    /// </summary>
    PeerQueueFull,
}
