namespace RaftHead.Consensus.Driver;

/// <summary>Counters of a <see cref="RaftDriver"/>'s queues since it was created; safe to read from any thread.</summary>
/// <param name="PeerMessagesDropped">Peer messages refused because the peer queue was full (Raft re-sends).</param>
/// <param name="ProposalsRejected">Proposals failed fast with <see cref="RaftOverloadReason.RequestQueueFull"/>.</param>
/// <param name="ReadsRejected">Reads failed fast with <see cref="RaftOverloadReason.RequestQueueFull"/>.</param>
/// <param name="TicksHandled">Ticks stepped into the core: none is lost, so this follows wall-clock time.</param>
public sealed record RaftDriverStats(long PeerMessagesDropped, long ProposalsRejected, long ReadsRejected, long TicksHandled);
