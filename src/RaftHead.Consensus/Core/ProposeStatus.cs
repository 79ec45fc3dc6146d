namespace RaftHead.Consensus.Core;

public enum ProposeStatus
{
    Accepted,
    NotLeader,

    /// <summary>A leadership transfer is under way; retry on the new leader.</summary>
    TransferInProgress,

    /// <summary>Too many uncommitted entries: back-pressure.</summary>
    Overloaded,

    /// <summary>A membership change is already in flight or the change is invalid for the current membership.</summary>
    MembershipChangeRejected,
}
