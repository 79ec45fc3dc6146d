namespace RaftHead.Consensus.Driver;

/// <summary>Counters of a <see cref="RaftDriver"/>'s queues since it was created; safe to read from any thread.</summary>
/// <param name="PeerMessagesDropped">Peer messages refused because the peer queue was full (Raft re-sends).</param>
/// <param name="ProposalsRejected">Proposals failed fast with <see cref="RaftOverloadReason.RequestQueueFull"/>.</param>
/// <param name="ReadsRejected">Reads failed fast with <see cref="RaftOverloadReason.RequestQueueFull"/>.</param>
/// <param name="TicksHandled">Ticks stepped into the core.</param>
public sealed record RaftDriverStats(long PeerMessagesDropped, long ProposalsRejected, long ReadsRejected, long TicksHandled)
{
    /// <summary>
    /// Ticks left out because the loop fell behind its clock by an election timeout or more (a stall): a round steps
    /// fewer than <c>ElectionTicks</c> of them. Every tick counted by the clock is handled, collapsed or still pending.
    /// </summary>
    public long TicksCollapsed { get; init; }

    /// <summary>Ticks of the clock since the driver started: <see cref="TicksHandled"/> + <see cref="TicksCollapsed"/> + those not yet taken.</summary>
    public long TicksElapsed { get; init; }
}
