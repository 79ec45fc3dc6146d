using RaftHead.Consensus.Core;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>One simulated node's outgoing side: hands messages to the simulated network.</summary>
public sealed class SimTransport(Action<Message> send) : IRaftTransport
{
    public bool Send(Message message)
    {
        send(message);
        return true;
    }

    public string? AddressOf(long nodeId) => null;
}
