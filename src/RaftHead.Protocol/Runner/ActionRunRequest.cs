using Build.Bazel.Remote.Execution.V2;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Protocol.Runner;

/// <summary>An action to run, with its Command already fetched and parsed.</summary>
public sealed record ActionRunRequest(string InstanceName, Digest ActionDigest, ReapiAction Action, Command Command)
{
    /// <summary>When the operation was queued (for ExecutedActionMetadata.queued_timestamp).</summary>
    public DateTimeOffset QueuedAt { get; init; }
}
