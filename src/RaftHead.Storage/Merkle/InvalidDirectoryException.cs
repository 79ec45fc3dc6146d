using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage.Merkle;

/// <summary>A directory blob of a tree does not parse or breaks the Directory rules.</summary>
public sealed class InvalidDirectoryException(Digest digest, string reason)
    : Exception($"Directory {digest.Hash}/{digest.SizeBytes} is invalid: {reason}")
{
    public Digest Digest { get; } = digest;

    public string Reason { get; } = reason;
}
