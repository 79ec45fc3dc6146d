using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Scheduling;

/// <summary>One action within one instance: the key of in-flight deduplication and of the action cache.</summary>
public readonly record struct ActionKey(string InstanceName, string Hash, long SizeBytes)
{
    public static ActionKey Of(string instanceName, Digest digest) => new(instanceName, digest.Hash, digest.SizeBytes);
}
