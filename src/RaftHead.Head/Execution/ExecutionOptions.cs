using RaftHead.Protocol;

namespace RaftHead.Head.Execution;

/// <summary>
/// What Execute checks before it submits (the action's timeout, its Action, Command and input tree in the CAS). Every
/// bound carries its unit in its name.
/// </summary>
public sealed record ExecutionOptions
{
    /// <summary>Timeout given to an action that sets none (the worker enforces it).</summary>
    public int ActionTimeoutDefaultMs { get; init; } = Defaults.ActionTimeoutDefaultMs;

    /// <summary>Longest Action.timeout accepted; a longer one is refused with INVALID_ARGUMENT, as REAPI requires.</summary>
    public int ActionTimeoutMaxMs { get; init; } = Defaults.ActionTimeoutMaxMs;

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

    /// <summary>
    /// The largest input files a submit names for the leader's locality scoring; at most the scheduler's
    /// <c>InputHintsMax</c> (8). 0 turns locality hints off.
    /// </summary>
    public int LocalityHintsMax { get; init; } = 4;

    /// <summary>Smaller input files are not worth placing work near: fetching them costs little.</summary>
    public long LocalityHintMinBytes { get; init; } = 64 * 1024;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ActionTimeoutDefaultMs, nameof(ActionTimeoutDefaultMs));
        ArgumentOutOfRangeException.ThrowIfLessThan(ActionTimeoutMaxMs, ActionTimeoutDefaultMs, nameof(ActionTimeoutMaxMs));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MissingBlobsListedMax, nameof(MissingBlobsListedMax));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(InputDirectoriesMax, nameof(InputDirectoriesMax));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MessageBlobMaxBytes, nameof(MessageBlobMaxBytes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(InputWalkConcurrencyMax, nameof(InputWalkConcurrencyMax));
        ArgumentOutOfRangeException.ThrowIfNegative(LocalityHintsMax, nameof(LocalityHintsMax));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(LocalityHintsMax, 8, nameof(LocalityHintsMax));
        ArgumentOutOfRangeException.ThrowIfNegative(LocalityHintMinBytes, nameof(LocalityHintMinBytes));
    }
}
