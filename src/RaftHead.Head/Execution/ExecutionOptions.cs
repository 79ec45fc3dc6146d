using RaftHead.Protocol;

namespace RaftHead.Head.Execution;

/// <summary>Settings of local execution (<c>rh serve --exec</c>). Every bound carries its unit in its name.</summary>
public sealed record ExecutionOptions
{
    /// <summary>Actions run at once; each slot is one worker loop of the scheduler.</summary>
    public int Slots { get; init; } = Environment.ProcessorCount;

    /// <summary>Operations waiting for a slot, at most; beyond it Execute answers RESOURCE_EXHAUSTED with RetryInfo.</summary>
    public int QueuedOperationsMax { get; init; } = 10_000;

    /// <summary>The retry_delay a client is told to wait when the queue is full.</summary>
    public int QueueFullRetryDelayMs { get; init; } = 1_000;

    /// <summary>
    /// What this node offers, property name to the values it satisfies (values compare ignoring case, names exactly).
    /// An action asking for a name not listed, or a value not listed under it, is refused with FAILED_PRECONDITION.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> PlatformProperties { get; init; } = DefaultPlatformProperties();

    /// <summary>ExecutedActionMetadata.worker and the worker shown by <c>rh ops</c>.</summary>
    public string WorkerName { get; init; } = Environment.MachineName;

    /// <summary>Timeout given to an action that sets none.</summary>
    public int ActionTimeoutDefaultMs { get; init; } = Defaults.ActionTimeoutDefaultMs;

    /// <summary>Longest Action.timeout accepted; a longer one is refused with INVALID_ARGUMENT, as REAPI requires.</summary>
    public int ActionTimeoutMaxMs { get; init; } = Defaults.ActionTimeoutMaxMs;

    /// <summary>
    /// The runner enforces the action's timeout itself (and returns what the action wrote before it); the scheduler
    /// cancels a run only this long after the timeout, as a backstop against a runner that does not return.
    /// </summary>
    public int ActionTimeoutGraceMs { get; init; } = 30_000;

    /// <summary>Finished operations kept for WaitExecution, GetOperation and ListOperations, at most.</summary>
    public int FinishedOperationsMax { get; init; } = 10_000;

    /// <summary>How long a finished operation is kept (Bazel reconnects within seconds; <c>rh ops</c> shows recent history).</summary>
    public int FinishedOperationRetentionMs { get; init; } = 15 * 60 * 1000;

    /// <summary>
    /// An Execute or WaitExecution stream that has seen no change for this long is sent the current Operation again, so
    /// idle-stream timeouts of proxies and load balancers do not cut a long action's stream. 0 disables it.
    /// </summary>
    public int StreamKeepAliveMs { get; init; } = 60_000;

    /// <summary>
    /// Missing blobs named in one FAILED_PRECONDITION, at most (the message still gives the total). The details travel
    /// in a trailer, and clients bound trailer size (grpc-java: 8 KiB by default, room for about 60 entries).
    /// </summary>
    public int MissingBlobsListedMax { get; init; } = 50;

    /// <summary>Distinct directories an input root may hold.</summary>
    public int InputDirectoriesMax { get; init; } = 1_000_000;

    /// <summary>Largest Action, Command or Directory blob accepted.</summary>
    public int MessageBlobMaxBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Blobs read at once while walking an input root.</summary>
    public int InputWalkConcurrencyMax { get; init; } = 16;

    /// <summary>REAPI's platform lexicon names for this machine: OSFamily and ISA.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> DefaultPlatformProperties() =>
        new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal)
        {
            [PlatformLexicon.OsFamilyName] = new[] { PlatformLexicon.OsFamily },
            [PlatformLexicon.IsaName] = new[] { PlatformLexicon.Isa },
        };

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Slots, nameof(Slots));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(QueuedOperationsMax, nameof(QueuedOperationsMax));
        ArgumentOutOfRangeException.ThrowIfNegative(QueueFullRetryDelayMs, nameof(QueueFullRetryDelayMs));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ActionTimeoutDefaultMs, nameof(ActionTimeoutDefaultMs));
        ArgumentOutOfRangeException.ThrowIfLessThan(ActionTimeoutMaxMs, ActionTimeoutDefaultMs, nameof(ActionTimeoutMaxMs));
        ArgumentOutOfRangeException.ThrowIfNegative(ActionTimeoutGraceMs, nameof(ActionTimeoutGraceMs));
        ArgumentOutOfRangeException.ThrowIfNegative(FinishedOperationsMax, nameof(FinishedOperationsMax));
        ArgumentOutOfRangeException.ThrowIfNegative(FinishedOperationRetentionMs, nameof(FinishedOperationRetentionMs));
        ArgumentOutOfRangeException.ThrowIfNegative(StreamKeepAliveMs, nameof(StreamKeepAliveMs));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MissingBlobsListedMax, nameof(MissingBlobsListedMax));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(InputDirectoriesMax, nameof(InputDirectoriesMax));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MessageBlobMaxBytes, nameof(MessageBlobMaxBytes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(InputWalkConcurrencyMax, nameof(InputWalkConcurrencyMax));
        ArgumentNullException.ThrowIfNull(PlatformProperties, nameof(PlatformProperties));
        ArgumentException.ThrowIfNullOrEmpty(WorkerName, nameof(WorkerName));
    }
}
