using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Peer;

/// <summary>
/// A worker's store: the heads' CAS (<c>heads</c>) with the worker's own blobs in front and its peers beside. A whole
/// read of a blob is served from the worker's <see cref="FileCache"/> if it holds it, else from a peer the heads'
/// blob directory names (verified whole, size and SHA-256, before a byte is handed on; a large one is then kept in the
/// cache as it is), else from the heads. A peer
/// that sends other bytes, or cannot be reached, is skipped for a while and the next source is tried. Writes go to the
/// heads and are kept in the cache too, so the outputs this worker produces are there for its peers to read.
/// </summary>
public sealed class PeerFetchingBlobStore : IBlobStore, IDisposable
{
    private readonly IBlobStore _heads;
    private readonly IBlobLocator _locator;
    private readonly GrpcChannels _peers;
    private readonly FileCache _cache;
    private readonly PeerFetchOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _fetches;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _suspectUntil = new(StringComparer.Ordinal);
    private long _blobsFromPeers;
    private long _bytesFromPeers;
    private long _blobsFromHeads;
    private long _bytesFromHeads;
    private long _blobsLocal;
    private long _digestFailures;
    private long _peerErrors;

    /// <param name="heads">Where every blob can be read and where writes go.</param>
    /// <param name="locator">Names the peers that may hold a blob.</param>
    /// <param name="peers">The channel pool for peer endpoints.</param>
    /// <param name="cache">The worker's own blobs: read first, and where written blobs are kept.</param>
    /// <param name="options">Bounds and timeouts.</param>
    /// <param name="logger">Digest failures and unreachable peers.</param>
    public PeerFetchingBlobStore(IBlobStore heads, IBlobLocator locator, GrpcChannels peers, FileCache cache, PeerFetchOptions? options = null, ILogger? logger = null)
    {
        _heads = heads ?? throw new ArgumentNullException(nameof(heads));
        _locator = locator ?? throw new ArgumentNullException(nameof(locator));
        _peers = peers ?? throw new ArgumentNullException(nameof(peers));
        _cache = cache ?? throw new ArgumentNullException(nameof(cache));
        _options = options ?? new PeerFetchOptions();
        _options.Validate();
        _logger = logger ?? NullLogger.Instance;
        _time = _options.TimeProvider;
        _fetches = new SemaphoreSlim(_options.ConcurrentFetchesMax, _options.ConcurrentFetchesMax);
    }

    public long BlobsFromPeers => Interlocked.Read(ref _blobsFromPeers);

    public long BytesFromPeers => Interlocked.Read(ref _bytesFromPeers);

    /// <summary>Reads the heads answered with a blob (whole or part).</summary>
    public long BlobsFromHeads => Interlocked.Read(ref _blobsFromHeads);

    public long BytesFromHeads => Interlocked.Read(ref _bytesFromHeads);

    /// <summary>Reads served from the worker's own cache (a blob it wrote, or holds in the other file mode).</summary>
    public long BlobsLocal => Interlocked.Read(ref _blobsLocal);

    /// <summary>Peer answers whose bytes did not match the digest asked for.</summary>
    public long DigestFailures => Interlocked.Read(ref _digestFailures);

    /// <summary>Peer reads that failed otherwise (unreachable, timed out, broken off); a NOT_FOUND is not counted.</summary>
    public long PeerErrors => Interlocked.Read(ref _peerErrors);

    public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) =>
        _heads.FindMissingAsync(instanceName, digests, missing, cancellationToken);

    public async ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _heads.PutAsync(instanceName, digest, data, cancellationToken).ConfigureAwait(false);

        // The heads verified the bytes against the digest before accepting them.
        if (digest.SizeBytes >= _options.PeerFetchMinBytes && !_cache.Contains(digest))
        {
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
    }

    public IBlobWriter BeginWrite(string instanceName, Digest digest)
    {
        var inner = _heads.BeginWrite(instanceName, digest);
        return digest.SizeBytes >= _options.PeerFetchMinBytes && !_cache.Contains(digest)
            ? new KeepingBlobWriter(inner, _cache, digest, _logger)
            : inner;
    }

    public IDisposable Pin(string instanceName, Digest digest) => _heads.Pin(instanceName, digest);

    public async ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
    {
        var whole = offset == 0 && (limit == 0 || limit >= digest.SizeBytes);
        if (whole && digest.SizeBytes >= _options.PeerFetchMinBytes && digest.SizeBytes > 0)
        {
            if (_cache.TryOpenRead(digest) is { } local)
            {
                Interlocked.Increment(ref _blobsLocal);
                return local;
            }

            if (await FromPeersAsync(instanceName, digest, cancellationToken).ConfigureAwait(false) is { } fetched)
            {
                return fetched;
            }
        }

        var stream = await _heads.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken).ConfigureAwait(false);
        if (stream is not null)
        {
            var length = Math.Max(0, limit == 0 ? digest.SizeBytes - offset : Math.Min(limit, digest.SizeBytes - offset));
            Interlocked.Increment(ref _blobsFromHeads);
            Interlocked.Add(ref _bytesFromHeads, length);
        }

        return stream;
    }

    /// <summary>True while <paramref name="peer"/> is being skipped after a bad answer.</summary>
    public bool IsSuspect(string peer) => _suspectUntil.TryGetValue(peer, out var until) && _time.GetTimestamp() < until;

    private async Task<Stream?> FromPeersAsync(string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        await _fetches.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            IReadOnlyList<string> peers;
            try
            {
                peers = await _locator.PeersHoldingAsync(digest, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not OperationCanceledException)
            {
                // No directory, no peers: the heads still hold every blob.
                _logger.LogDebug("Where-is of {Hash}/{Size} failed: {Error}", digest.Hash, digest.SizeBytes, e.Message);
                return null;
            }

            var tried = 0;
            foreach (var peer in peers)
            {
                if (tried >= _options.PeersTriedMax)
                {
                    break;
                }

                if (IsSuspect(peer))
                {
                    continue;
                }

                tried++;
                if (await ReadFromPeerAsync(peer, instanceName, digest, cancellationToken).ConfigureAwait(false) is { } stream)
                {
                    return stream;
                }
            }

            return null;
        }
        finally
        {
            _fetches.Release();
        }
    }

    /// <summary>The whole blob from one peer, verified, or null (the reason logged and counted).</summary>
    private async Task<Stream?> ReadFromPeerAsync(string peer, string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(_options.PeerReadTimeoutMs));
        var resource = instanceName.Length == 0 ? $"blobs/{Digests.ToResourceString(digest)}" : $"{instanceName}/blobs/{Digests.ToResourceString(digest)}";
        Stream? spool = null;
        string? spoolPath = null;
        try
        {
            var client = new ByteStream.ByteStreamClient(_peers.For(peer));
            using var call = client.Read(new ReadRequest { ResourceName = resource }, cancellationToken: timeout.Token);
            spool = digest.SizeBytes <= _options.SpoolInMemoryMaxBytes
                ? new MemoryStream(new byte[digest.SizeBytes], 0, (int)digest.SizeBytes, writable: true, publiclyVisible: true)
                : new FileStream(spoolPath = _cache.NewTempPath(), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long received = 0;
            var tooLong = false;
            while (await call.ResponseStream.MoveNext(timeout.Token).ConfigureAwait(false))
            {
                var data = call.ResponseStream.Current.Data.Memory;
                if (received + data.Length > digest.SizeBytes)
                {
                    tooLong = true;
                    break;
                }

                hash.AppendData(data.Span);
                await spool.WriteAsync(data, timeout.Token).ConfigureAwait(false);
                received += data.Length;
            }

            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (tooLong || received != digest.SizeBytes || !string.Equals(actual, digest.Hash, StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _digestFailures);
                Suspect(peer);
                _logger.LogWarning(
                    "Peer {Peer} sent blob {Hash}/{Size} corrupt ({Received} bytes{Overrun}, hashing to {Actual}); skipping it for {SuspectMs} ms",
                    peer, digest.Hash, digest.SizeBytes, received, tooLong ? " and more" : "", tooLong ? "(not hashed)" : actual, _options.SuspectMs);
                return null;
            }

            Stream verified;
            if (spoolPath is null)
            {
                spool.Position = 0;
                verified = spool;
                spool = null;
            }
            else
            {
                // A large blob is verified in the cache's own temp directory, so it is kept as it is rather than copied again.
                await spool.DisposeAsync().ConfigureAwait(false);
                spool = null;
                _cache.Adopt(spoolPath, digest);
                spoolPath = null;
                verified = _cache.TryOpenRead(digest) ?? throw new IOException($"blob {digest.Hash}/{digest.SizeBytes} vanished from the cache as it was kept");
            }

            Interlocked.Increment(ref _blobsFromPeers);
            Interlocked.Add(ref _bytesFromPeers, received);
            return verified;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            // The directory is soft state: the peer lost or never kept it. Not the peer's fault.
            _logger.LogDebug("Peer {Peer} does not hold blob {Hash}/{Size}", peer, digest.Hash, digest.SizeBytes);
            return null;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is RpcException or IOException or OperationCanceledException or HttpRequestException)
        {
            Interlocked.Increment(ref _peerErrors);
            Suspect(peer);
            _logger.LogWarning("Peer {Peer} could not serve blob {Hash}/{Size}: {Error}; skipping it for {SuspectMs} ms", peer, digest.Hash, digest.SizeBytes, e.Message, _options.SuspectMs);
            return null;
        }
        finally
        {
            if (spool is not null)
            {
                await spool.DisposeAsync().ConfigureAwait(false);
            }

            if (spoolPath is not null)
            {
                File.Delete(spoolPath);
            }
        }
    }

    public void Dispose() => _fetches.Dispose();

    private void Suspect(string peer) =>
        _suspectUntil[peer] = _time.GetTimestamp() + (long)(_options.SuspectMs / 1000.0 * _time.TimestampFrequency);
}
