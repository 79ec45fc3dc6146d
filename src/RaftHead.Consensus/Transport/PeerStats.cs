namespace RaftHead.Consensus.Transport;

/// <summary>Counters of one peer's outgoing stream.</summary>
/// <param name="Sent">Messages written to the stream.</param>
/// <param name="FramesSent">Stream writes that carried them: several messages queued together share one frame.</param>
public sealed record PeerStats(long PeerId, string Address, long Sent, long FramesSent, long Dropped, long StreamsOpened, long StreamFailures, bool Connected);
