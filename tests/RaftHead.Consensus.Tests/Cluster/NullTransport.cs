using RaftHead.Consensus.Core;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>A transport for drivers with no reachable peer: everything sent is lost.</summary>
public sealed class NullTransport : IRaftTransport
{
    public long Sent { get; private set; }

    public bool Send(Message message)
    {
        Sent++;
        return false;
    }

    public string? AddressOf(long nodeId) => $"node-{nodeId}.invalid:1";
}
