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

    /// <summary>Bound on queued inputs. Peer messages beyond it are dropped; local requests wait (back-pressure).</summary>
    public int InboxCapacity { get; init; } = 8192;

    /// <summary>Inputs taken into the core before its Ready is handled: proposals arriving together share one fsync.</summary>
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
        if (InboxCapacity <= 0) throw new ArgumentException("InboxCapacity must be positive.");
        if (MaxInputsPerBatch <= 0) throw new ArgumentException("MaxInputsPerBatch must be positive.");
        if (MaxProposalBytes <= 0) throw new ArgumentException("MaxProposalBytes must be positive.");
        if (ReadRetryTicks <= 0) throw new ArgumentException("ReadRetryTicks must be positive.");
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
