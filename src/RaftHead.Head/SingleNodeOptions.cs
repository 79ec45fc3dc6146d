using System.Net;
using RaftHead.Head.Execution;

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

    /// <summary>Run actions on this node (REAPI Execute); without it the node is a cache only.</summary>
    public bool ExecutionEnabled { get; init; }

    public ExecutionOptions Execution { get; init; } = new();

    /// <summary>The account actions run as when the node runs as root.</summary>
    public string RunAsUser { get; init; } = "rh-runner";
}
