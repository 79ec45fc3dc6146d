using System.Net;

namespace RaftHead.Head;

/// <summary>Settings of <c>rh serve</c>: one head, no replication.</summary>
public sealed record SingleNodeOptions
{
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>0 picks a free port.</summary>
    public int Port { get; init; } = 8980;

    public required string DataDirectory { get; init; }

    public long CasMaxBytes { get; init; } = 10L * 1024 * 1024 * 1024;

    public Reapi.ReapiOptions Reapi { get; init; } = new();
}
