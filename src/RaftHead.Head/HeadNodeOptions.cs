using System.Globalization;
using System.Net;
using RaftHead.Head.Execution;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using RaftHead.Storage;

namespace RaftHead.Head;

/// <summary>
/// Settings of one head: <c>rh serve</c> (a one-member log: no peers) or one replica of <c>rh head</c> / <c>rh up</c>.
/// </summary>
public sealed record HeadNodeOptions
{
    /// <summary>This head's id in the Raft membership (1 for a head alone).</summary>
    public long NodeId { get; init; } = 1;

    /// <summary>
    /// Every replica's id and gRPC address (host:port), this one included; empty for a head alone. Raft, forwarding and
    /// the blob copies all reach a replica at this one address.
    /// </summary>
    public IReadOnlyDictionary<long, string> Members { get; init; } = new Dictionary<long, string>();

    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>0 picks a free port (a head alone only: replicas must know each other's ports).</summary>
    public int Port { get; init; } = Defaults.HeadGrpcPort;

    public required string DataDirectory { get; init; }

    public long CasMaxBytes { get; init; } = Defaults.CasMaxBytes;

    /// <summary>The CAS's tuning (segment and index sizes); its data directory and size bound come from this record.</summary>
    public FasterBlobStoreOptions? Cas { get; init; }

    /// <summary>How client blobs are copied to the other replicas (ignored by a head alone).</summary>
    public Replication.ReplicatedBlobStoreOptions BlobReplication { get; init; } = new();

    public Reapi.ReapiOptions Reapi { get; init; } = new();

    /// <summary>Serve Execute and the worker protocol; without it the head is a cache only.</summary>
    public bool ExecutionEnabled { get; init; }

    /// <summary>Execute's input checks (missing blobs listed, message sizes, the action timeout limit).</summary>
    public ExecutionOptions Execution { get; init; } = new();

    /// <summary>Frontend bounds and timings; <see cref="FrontendOptions.OperationNameSeed"/> and the heads' endpoints are filled in at start.</summary>
    public FrontendOptions Frontend { get; init; } = new();

    public SchedulerLimits Limits { get; init; } = new();

    /// <summary>One Raft tick. The election timeout is <see cref="ElectionTicks"/> ticks, drawn up to twice that.</summary>
    public int RaftTickMs { get; init; } = 50;

    /// <summary>With 50 ms ticks: a dead leader is replaced within 0.3–0.6 s plus one election round.</summary>
    public int ElectionTicks { get; init; } = 6;

    public long SnapshotThresholdEntries { get; init; } = 10_000;

    /// <summary>The clock behind every timeout, age and timestamp of the frontend.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public bool Replicated => Members.Count > 1;

    /// <summary>This head's own address as the other replicas know it.</summary>
    public string SelfAddress =>
        Members.TryGetValue(NodeId, out var self) ? self : string.Create(CultureInfo.InvariantCulture, $"{Address}:{Port}");

    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(DataDirectory);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(NodeId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(RaftTickMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(ElectionTicks, 2);
        if (Members.Count > 0 && !Members.ContainsKey(NodeId))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"the members ({string.Join(", ", Members.Keys)}) do not include this head's id {NodeId}"));
        }

        if (Replicated && Port == 0)
        {
            throw new ArgumentException("a replica needs a fixed port: the others reach it there");
        }
    }
}
