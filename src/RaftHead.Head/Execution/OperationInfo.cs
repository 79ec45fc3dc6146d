using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Execution;

/// <summary>
/// One operation as <c>rh ops</c> shows it: a copy taken at one moment, never updated.
/// </summary>
/// <param name="Name">The operation name clients pass to WaitExecution, e.g. <c>operations/3f2a...</c>.</param>
/// <param name="Stage">QUEUED, EXECUTING or COMPLETED.</param>
/// <param name="QueuedAt">When the operation was created (a cache hit is created completed).</param>
/// <param name="StartedAt">When a slot took it, or null while queued or if it never ran.</param>
/// <param name="CompletedAt">When it finished, or null while unfinished.</param>
/// <param name="Worker">Where it ran, or null if it did not.</param>
/// <param name="CachedResult">Answered from the action cache without running.</param>
/// <param name="ExitCode">The command's exit code once completed with a result, else null.</param>
/// <param name="StatusCode">The google.rpc code of ExecuteResponse.status once completed (0 when the command ran), else null.</param>
/// <param name="ToolInvocationId">From the client's RequestMetadata header (a Bazel invocation), or null.</param>
public sealed record OperationInfo(
    string Name,
    string InstanceName,
    Digest ActionDigest,
    ExecutionStage.Types.Value Stage,
    DateTimeOffset QueuedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt,
    string? Worker,
    bool CachedResult,
    int? ExitCode,
    int? StatusCode,
    string? ToolInvocationId);
