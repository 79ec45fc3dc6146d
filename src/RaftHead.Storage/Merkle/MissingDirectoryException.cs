using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage.Merkle;

/// <summary>A directory named in a tree is not in the CAS (REAPI: NOT_FOUND / FAILED_PRECONDITION).</summary>
public sealed class MissingDirectoryException(Digest digest)
    : Exception($"Directory {digest.Hash}/{digest.SizeBytes} is not in the CAS")
{
    public Digest Digest { get; } = digest;
}
