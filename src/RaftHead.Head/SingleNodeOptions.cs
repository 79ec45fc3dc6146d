using System.Net;
using RaftHead.Head.Execution;
using RaftHead.Protocol;

namespace RaftHead.Head;

/// <summary>Settings of <c>rh serve</c>: one head, no replication.</summary>
public sealed record SingleNodeOptions
{
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>0 picks a free port.</summary>
    public int Port { get; init; } = Defaults.HeadGrpcPort;

    public required string DataDirectory { get; init; }

    public long CasMaxBytes { get; init; } = Defaults.CasMaxBytes;

    public Reapi.ReapiOptions Reapi { get; init; } = new();

    /// <summary>Run actions on this node (REAPI Execute); without it the node is a cache only.</summary>
    public bool ExecutionEnabled { get; init; }

    public ExecutionOptions Execution { get; init; } = new();

    /// <summary>The clock behind every timeout, age and timestamp of the node.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
