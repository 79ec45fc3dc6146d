namespace RaftHead.Worker.Agent;

/// <summary>What a worker offers the cluster and how it paces its calls. Bounds carry their units in their names.</summary>
public sealed record WorkerAgentOptions
{
    /// <summary>Holds the worker's id (stable across restarts) and, by convention, the runner's work directory.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Actions run at once.</summary>
    public int Slots { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Leases held beyond <see cref="Slots"/>, queued here until a slot frees, so the next action starts without waiting
    /// for the head to commit the last one's end and place another; null: one per slot; 0: none.
    /// </summary>
    public int? LeaseAhead { get; init; }

    /// <summary><see cref="LeaseAhead"/> with its default applied.</summary>
    public int LeaseAheadCount => LeaseAhead ?? Slots;

    /// <summary>REAPI platform properties offered (a name listed once per value); <see cref="MachinePlatform.Default"/> unless given.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Platform { get; init; } = MachinePlatform.Default();

    public uint CpuMillis { get; init; } = (uint)Environment.ProcessorCount * 1000;

    public ulong MemoryBytes { get; init; } = MachinePlatform.MemoryBytes();

    public uint Gpus { get; init; }

    /// <summary>How long a head may hold a Lease call open when it has no work.</summary>
    public int LeaseWaitMs { get; init; } = 30_000;

    /// <summary>Used when the head's Register answer names no interval.</summary>
    public int HeartbeatIntervalMs { get; init; } = 1_000;

    /// <summary>Every call but the Lease long poll waits at most this long for its answer.</summary>
    public int CallTimeoutMs { get; init; } = 10_000;

    /// <summary>After an error other than UNAVAILABLE (which the connection handles), a loop waits up to this long before its next call.</summary>
    public int ErrorBackoffMs { get; init; } = 1_000;

    /// <summary>On stop, running actions may finish within this; the rest are killed and reported failed.</summary>
    public int StopGraceMs { get; init; } = 30_000;

    /// <summary>Action and Command blobs larger than this are refused (a head refuses the same at Execute).</summary>
    public int MessageBlobMaxBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Where peers read this worker's blobs (host:port), sent at registration; empty: it serves none.</summary>
    public string PeerEndpoint { get; init; } = "";

    /// <summary>Stored-blob hints one heartbeat carries at most; the rest go with the next beats.</summary>
    public int BlobReportsPerBeatMax { get; init; } = 1_000;

    /// <summary>Corrupt-blob reports one heartbeat carries at most (the heads read as many per beat); the rest go with the next beats.</summary>
    public int CorruptReportsPerBeatMax { get; init; } = 64;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(DataDirectory);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Slots);
        ArgumentOutOfRangeException.ThrowIfNegative(LeaseAheadCount, nameof(LeaseAhead));
        ArgumentNullException.ThrowIfNull(Platform);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(LeaseWaitMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(HeartbeatIntervalMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CallTimeoutMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ErrorBackoffMs);
        ArgumentOutOfRangeException.ThrowIfNegative(StopGraceMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MessageBlobMaxBytes);
        ArgumentNullException.ThrowIfNull(PeerEndpoint);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BlobReportsPerBeatMax);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CorruptReportsPerBeatMax);
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
