using RaftHead.Protocol;

namespace RaftHead.Head.Frontend;

/// <summary>Settings of the execution frontend. Every bound carries its unit in its name.</summary>
public sealed record FrontendOptions
{
    /// <summary>Names operations <c>operations/{seed}-{index}</c>; pick one per cluster lifetime so names never repeat across a rebuilt log.</summary>
    public string OperationNameSeed { get; init; } = "";

    /// <summary>How often a worker beats (told at registration).</summary>
    public int HeartbeatIntervalMs { get; init; } = 1_000;

    /// <summary>A worker silent this long is declared dead and its leases requeue. A new leader waits this long before judging anyone.</summary>
    public int HeartbeatTtlMs { get; init; } = 10_000;

    /// <summary>
    /// A lease's hard deadline from its grant: the longest action the head accepts plus a grace. The worker enforces the
    /// action's own timeout; this only catches a lease that nobody finishes while its worker still beats.
    /// </summary>
    public long LeaseTtlMs { get; init; } = Defaults.ActionTimeoutMaxMs + 60_000L;

    /// <summary>How long a finished operation stays for WaitExecution and GetOperation before the leader prunes it.</summary>
    public long FinishedRetentionMs { get; init; } = 15 * 60 * 1000;

    /// <summary>Operations one prune entry forgets at most.</summary>
    public uint PruneBatchMax { get; init; } = 1_000;

    /// <summary>The leader's duties run at least this often (placement of backed-off work, silence, expiry, pruning), and after every change.</summary>
    public int DutiesIntervalMs { get; init; } = 250;

    /// <summary>Grants one placement proposes at most (one log entry).</summary>
    public int GrantsPerPlanMax { get; init; } = 512;

    /// <summary>When a running action is a straggler worth a speculative clone, for instances not named in <see cref="SpeculationByInstance"/>.</summary>
    public Scheduling.SpeculationOptions Speculation { get; init; } = new();

    /// <summary>Per REAPI instance name, settings that replace <see cref="Speculation"/>.</summary>
    public IReadOnlyDictionary<string, Scheduling.SpeculationOptions> SpeculationByInstance { get; init; } = new Dictionary<string, Scheduling.SpeculationOptions>(StringComparer.Ordinal);

    /// <summary>The speculation settings of an instance: its own, else the defaults.</summary>
    public Scheduling.SpeculationOptions SpeculationFor(string instanceName) =>
        SpeculationByInstance.GetValueOrDefault(instanceName) ?? Speculation;

    /// <summary>The retry_delay a client is told on RESOURCE_EXHAUSTED.</summary>
    public int RetryDelayMs { get; init; } = 1_000;

    /// <summary>Backoff before a failed attempt runs again: base, doubled per attempt, capped.</summary>
    public int RetryBackoffBaseMs { get; init; } = 500;

    public int RetryBackoffMaxMs { get; init; } = 30_000;

    /// <summary>The longest a worker's Lease call is held open, whatever it asks.</summary>
    public int LeaseWaitMaxMs { get; init; } = 30_000;

    /// <summary>
    /// Bytes of Action plus Command a lease may carry inline (0: none). Typical pairs are a few hundred bytes; a larger
    /// Command (long argument lists, big environments) is read by the worker from the CAS instead.
    /// </summary>
    public int LeaseInlineMessageMaxBytes { get; init; } = 64 * 1024;

    /// <summary>An Execute or WaitExecution stream without a change for this long is sent the current Operation again; 0 disables it.</summary>
    public int StreamKeepAliveMs { get; init; } = 60_000;

    /// <summary>Blobs one worker is believed to hold in the leader's soft directory, at most (older hints are dropped past it).</summary>
    public int BlobHintsPerWorkerMax { get; init; } = 1_000_000;

    /// <summary>
    /// Completions that arrive together go into one log entry, at most this many (and never more than the scheduler's
    /// <see cref="Scheduling.SchedulerLimits.CompleteBatchMax"/>, which refuses a larger batch).
    /// </summary>
    public int CompleteBatchMax { get; init; } = 256;

    /// <summary>
    /// The largest SubmitGraph request taken, in bytes: the graph is one log entry, which must stay inside the log's
    /// bound on a proposal (1 MiB by default) with room for the record around it. A larger build is split into graphs.
    /// </summary>
    public int GraphBytesMax { get; init; } = 1_000_000;

    /// <summary>Ready graph nodes the leader composes and starts at once.</summary>
    public int GraphStartsConcurrentMax { get; init; } = 8;

    /// <summary>Heads that hold every blob, answered by WhereIs as the fallback (host:port).</summary>
    public IReadOnlyList<string> HeadEndpoints { get; init; } = Array.Empty<string>();

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(HeartbeatIntervalMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(HeartbeatTtlMs, HeartbeatIntervalMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(LeaseTtlMs);
        ArgumentOutOfRangeException.ThrowIfNegative(FinishedRetentionMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(DutiesIntervalMs);
        Speculation.Validate();
        foreach (var (_, options) in SpeculationByInstance)
        {
            options.Validate();
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(GrantsPerPlanMax);
        ArgumentOutOfRangeException.ThrowIfNegative(RetryDelayMs);
        ArgumentOutOfRangeException.ThrowIfNegative(RetryBackoffBaseMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryBackoffMaxMs, RetryBackoffBaseMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(LeaseWaitMaxMs);
        ArgumentOutOfRangeException.ThrowIfNegative(LeaseInlineMessageMaxBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(StreamKeepAliveMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BlobHintsPerWorkerMax);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CompleteBatchMax);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(GraphBytesMax);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(GraphStartsConcurrentMax);
        ArgumentNullException.ThrowIfNull(HeadEndpoints);
    }
}
