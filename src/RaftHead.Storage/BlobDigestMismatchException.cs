using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage;

/// <summary>The bytes offered for a digest are not the blob it names (wrong size or wrong hash).</summary>
public sealed class BlobDigestMismatchException : Exception
{
    public BlobDigestMismatchException(Digest expected, string actualHash, long actualSize)
        : base($"Blob {expected.Hash}/{expected.SizeBytes} does not match its content: received {actualSize} bytes hashing to {actualHash}.")
    {
        Expected = expected;
        ActualHash = actualHash;
        ActualSize = actualSize;
    }

    public Digest Expected { get; }

    public string ActualHash { get; }

    public long ActualSize { get; }
}
