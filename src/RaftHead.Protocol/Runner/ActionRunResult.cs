using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Protocol.Runner;

/// <summary>
/// The outcome of a run. <see cref="Status"/> is OK when the command ran (whatever its exit code);
/// DEADLINE_EXCEEDED on timeout (with whatever outputs were collected); FAILED_PRECONDITION with a
/// PreconditionFailure of MISSING violations when inputs were absent; INVALID_ARGUMENT for an input tree or
/// output path that would leave the sandbox.
/// </summary>
public sealed record ActionRunResult(ActionResult Result, Google.Rpc.Status Status);
