using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;

namespace RaftHead.Head.Replication;

/// <summary>
/// A blob was stored on this head but fewer heads than required hold it, so the write is not acknowledged. The client
/// should retry: the blob is reported missing until a write reaches enough heads.
/// </summary>
public sealed class BlobNotReplicatedException : IOException
{
    public BlobNotReplicatedException(Digest digest, int copies, int copiesRequired, IReadOnlyList<string> failures)
        : base($"Blob {digest.Hash}/{digest.SizeBytes} stored on {copies} of {copiesRequired} heads; {Describe(failures)}. Retry the write.")
    {
        Copies = copies;
        CopiesRequired = copiesRequired;
    }

    public int Copies { get; }

    public int CopiesRequired { get; }

    /// <summary>What a client is told: UNAVAILABLE, which REAPI clients retry.</summary>
    public Status ToStatus() => new(StatusCode.Unavailable, Message);

    private static string Describe(IReadOnlyList<string> failures) =>
        failures.Count == 0 ? "no peer took it" : string.Join("; ", failures);
}
