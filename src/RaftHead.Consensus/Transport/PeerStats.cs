namespace RaftHead.Consensus.Transport;

/// <summary>Counters of one peer's outgoing stream.</summary>
public sealed record PeerStats(long PeerId, string Address, long Sent, long Dropped, long StreamsOpened, long StreamFailures, bool Connected);
