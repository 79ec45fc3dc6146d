using Build.Bazel.Remote.Execution.V2;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Storage;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Peer;

/// <summary>
/// The worker's own blobs in front of another store. A whole read of a blob of at least <c>keepMinBytes</c> is served
/// from the worker's <see cref="FileCache"/> when it holds it (a blob it wrote, fetched, or holds in the other file
/// mode); writes go to the store behind and, once it has accepted them, are kept in the cache too, so the outputs this
/// worker produces are there for its peers to read (<see cref="PeerBlobServer"/>). Smaller blobs are neither kept nor
/// served here: peers are never asked for them either.
/// </summary>
public sealed class LocalFirstBlobStore : IBlobStore
{
    private readonly IBlobStore _inner;
    private readonly FileCache _cache;
    private readonly long _keepMinBytes;
    private readonly ILogger _logger;
    private long _blobsLocal;

    /// <param name="inner">The store behind: reads the cache cannot serve, and every write.</param>
    /// <param name="cache">The worker's own blobs.</param>
    /// <param name="keepMinBytes">Smaller blobs bypass the cache.</param>
    /// <param name="logger">Blobs stored behind but not kept.</param>
    public LocalFirstBlobStore(IBlobStore inner, FileCache cache, long keepMinBytes, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keepMinBytes);
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        _cache = cache ?? throw new ArgumentNullException(nameof(cache));
        _keepMinBytes = keepMinBytes;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Reads served from the worker's own cache.</summary>
    public long BlobsLocal => Interlocked.Read(ref _blobsLocal);

    public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) =>
        _inner.FindMissingAsync(instanceName, digests, missing, cancellationToken);

    public IDisposable Pin(string instanceName, Digest digest) => _inner.Pin(instanceName, digest);

    public async ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
    {
        if (Kept(digest) && VerifyingReadStream.IsWhole(digest, offset, limit) && _cache.TryOpenRead(digest) is { } local)
        {
            Interlocked.Increment(ref _blobsLocal);
            return local;
        }

        return await _inner.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _inner.PutAsync(instanceName, digest, data, cancellationToken).ConfigureAwait(false);
        if (!Kept(digest) || _cache.Contains(digest))
        {
            return;
        }

        // The store behind verified the bytes against the digest before accepting them.
        var temp = _cache.NewTempPath();
        try
        {
            await File.WriteAllBytesAsync(temp, data, cancellationToken).ConfigureAwait(false);
            _cache.Adopt(temp, digest);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(temp);
            _logger.LogWarning("Blob {Hash}/{Size} was stored on the heads but not kept for peers: {Error}", digest.Hash, digest.SizeBytes, e.Message);
        }
    }

    public IBlobWriter BeginWrite(string instanceName, Digest digest)
    {
        var inner = _inner.BeginWrite(instanceName, digest);
        return Kept(digest) && !_cache.Contains(digest) ? new KeepingBlobWriter(inner, _cache, digest, _logger) : inner;
    }

    private bool Kept(Digest digest) => digest.SizeBytes > 0 && digest.SizeBytes >= _keepMinBytes;
}
