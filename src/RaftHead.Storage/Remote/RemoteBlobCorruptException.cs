using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage.Remote;

/// <summary>A head sent bytes that are not the blob asked for (wrong size or hash); nothing of them is used.</summary>
public sealed class RemoteBlobCorruptException : IOException
{
    public RemoteBlobCorruptException(Digest expected, string endpoint, string detail)
        : base($"blob {expected.Hash}/{expected.SizeBytes} read from {endpoint} failed verification: {detail}")
    {
    }
}
