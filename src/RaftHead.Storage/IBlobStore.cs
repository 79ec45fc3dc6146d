using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage;

/// <summary>
/// A content-addressed store of blobs named by SHA-256 digest, partitioned by REAPI instance name.
/// Every write is verified against its digest before it is acknowledged; a blob is never visible half-written.
/// Decorators (verifying, replicating, peer-fetching, metered) wrap this one interface.
/// </summary>
public interface IBlobStore
{
    /// <summary>
    /// Appends to <paramref name="missing"/> every digest of <paramref name="digests"/> the store lacks, in order.
    /// Present blobs have their last access refreshed: a client just told a blob exists must find it when it uses it.
    /// </summary>
    ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken);

    /// <summary>Stores a whole blob. Throws <see cref="BlobDigestMismatchException"/> (and keeps nothing) if the bytes do not match.</summary>
    ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Starts a streamed write of a blob of known digest; bytes are hashed as they arrive and never held whole in memory.</summary>
    IBlobWriter BeginWrite(string instanceName, Digest digest);

    /// <summary>
    /// Opens a blob for reading from <paramref name="offset"/>, at most <paramref name="limit"/> bytes (0: to the end),
    /// or returns null if the store does not hold it. A blob whose bytes no longer match its digest is treated as absent.
    /// </summary>
    ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken);

    /// <summary>
    /// Keeps a blob from eviction until the returned handle is disposed (work in progress needs its inputs). A pin
    /// keeps a blob, it never brings one back: pin first, then check presence.
    /// </summary>
    IDisposable Pin(string instanceName, Digest digest);
}
