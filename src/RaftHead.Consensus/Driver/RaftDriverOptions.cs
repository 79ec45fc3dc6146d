using RaftHead.Consensus.Core;

namespace RaftHead.Consensus.Driver;

/// <summary>How a <see cref="RaftDriver"/> runs its core. Units in the names; every queue bounded.</summary>
public sealed record RaftDriverOptions
{
    /// <summary>The core's configuration (node id, ticks, batch and window bounds).</summary>
    public required RaftConfig Raft { get; init; }

    /// <summary>Wall-clock length of one tick: the election timeout is <c>Raft.ElectionTicks × TickMs</c> (randomized up to twice that).</summary>
    public int TickMs { get; init; } = 100;

    /// <summary>Take a snapshot and compact the log once this many entries are applied past the last snapshot.</summary>
    public long SnapshotThresholdEntries { get; init; } = 10_000;

    /// <summary>
    /// Bound on queued peer messages (and the rare membership change or transfer). A message beyond it is dropped
    /// and counted (<see cref="RaftDriverStats.PeerMessagesDropped"/>): Raft re-sends what matters, and a peer cannot
    /// make us hold unbounded memory. Large, because this queue is drained first and should never fill in practice.
    /// </summary>
    public int PeerQueueCapacity { get; init; } = 65_536;

    /// <summary>
    /// Bound on queued local proposals and reads. When it is full a call fails at once with
    /// <see cref="RaftOverloadedException"/> (<see cref="RaftOverloadReason.RequestQueueFull"/>): callers are never
    /// parked waiting for room, and they can never crowd out peer messages or ticks.
    /// </summary>
    public int RequestQueueCapacity { get; init; } = 8192;

    /// <summary>
    /// Inputs of each queue taken into the core before its Ready is handled: proposals arriving together share one
    /// fsync, and one queue cannot hold the loop for long.
    /// </summary>
    public int MaxInputsPerBatch { get; init; } = 1024;

    /// <summary>Bound on one proposal, so that one entry always fits a peer message.</summary>
    public int MaxProposalBytes { get; init; } = 1024 * 1024;

    /// <summary>An unanswered ReadIndex request is re-issued after this many ticks (requests can be lost).</summary>
    public int ReadRetryTicks { get; init; } = 3;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Seed of the core's randomness (election timeouts); null draws one.</summary>
    public int? RandomSeed { get; init; }

    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Raft);
        Raft.Validate();
        if (TickMs <= 0) throw new ArgumentException("TickMs must be positive.");
        if (SnapshotThresholdEntries <= 0) throw new ArgumentException("SnapshotThresholdEntries must be positive.");
        if (PeerQueueCapacity <= 0) throw new ArgumentException("PeerQueueCapacity must be positive.");
        if (RequestQueueCapacity <= 0) throw new ArgumentException("RequestQueueCapacity must be positive.");
        if (MaxInputsPerBatch <= 0) throw new ArgumentException("MaxInputsPerBatch must be positive.");
        if (MaxProposalBytes <= 0) throw new ArgumentException("MaxProposalBytes must be positive.");
        if (ReadRetryTicks <= 0) throw new ArgumentException("ReadRetryTicks must be positive.");
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
