using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage;

/// <summary>
/// Bytes read from a source that is not trusted (another head, a peer worker) are not the blob asked for: wrong size or
/// hash. Thrown by <see cref="VerifyingReadStream"/> where the read would have ended, so nothing of them is taken as the blob.
/// </summary>
public sealed class BlobVerificationException : IOException
{
    public BlobVerificationException(Digest expected, string source, string detail)
        : base($"blob {expected.Hash}/{expected.SizeBytes} read from {source} failed verification: {detail}")
    {
        Origin = source;
    }

    /// <summary>Where the bytes came from (an endpoint), to mark it.</summary>
    public string Origin { get; }
}
