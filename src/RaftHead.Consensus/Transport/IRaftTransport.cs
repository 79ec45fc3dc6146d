using RaftHead.Consensus.Core;

namespace RaftHead.Consensus.Transport;

/// <summary>
/// How the driver sends messages to peers. Sending never blocks and may drop (Raft tolerates loss): the
/// driver calls it from its loop: a leader's appends and heartbeats before its own sync, every other message
/// (votes, acknowledgements) after the Ready's hard state and entries are durable.
/// </summary>
public interface IRaftTransport
{
    /// <summary>Queues <paramref name="message"/> for <see cref="Message.To"/>; false when it was dropped.</summary>
    bool Send(Message message);

    /// <summary>The address a client should dial to reach node <paramref name="nodeId"/>, when known (for leader hints).</summary>
    string? AddressOf(long nodeId);
}
