using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using RaftHead.Storage.Remote;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Peer;

/// <summary>
/// Reads a blob from the worker's peers before the store behind (the heads): a whole read of a blob of at least
/// <see cref="PeerFetchOptions.PeerFetchMinBytes"/> asks the heads' blob directory who holds it and reads it from one of
/// them, through <see cref="VerifyingReadStream"/> to the end (size and SHA-256) before a byte is handed on; a large
/// blob is verified in the file cache's temp directory and then kept there as it is. A peer that sends other bytes, or
/// cannot be reached, is skipped for a while and the next source is tried; the store behind answers the rest. A peer
/// that sent other bytes is also recorded in <see cref="CorruptReports"/>, for the heartbeats to tell the heads.
/// Writes, presence and pins go to the store behind.
/// </summary>
public sealed class PeerFetchingBlobStore : IBlobStore, IDisposable
{
    private readonly IBlobStore _fallback;
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
    private long _digestFailures;
    private long _peerErrors;

    /// <param name="fallback">Where every blob can be read (the heads, verified), and where writes go.</param>
    /// <param name="locator">Names the peers that may hold a blob.</param>
    /// <param name="peers">The channel pool for peer endpoints.</param>
    /// <param name="cache">Where a large fetched blob is verified and then kept.</param>
    /// <param name="options">Bounds and timeouts.</param>
    /// <param name="logger">Digest failures and unreachable peers.</param>
    public PeerFetchingBlobStore(IBlobStore fallback, IBlobLocator locator, GrpcChannels peers, FileCache cache, PeerFetchOptions? options = null, ILogger? logger = null)
    {
        _fallback = fallback ?? throw new ArgumentNullException(nameof(fallback));
        _locator = locator ?? throw new ArgumentNullException(nameof(locator));
        _peers = peers ?? throw new ArgumentNullException(nameof(peers));
        _cache = cache ?? throw new ArgumentNullException(nameof(cache));
        _options = options ?? new PeerFetchOptions();
        _options.Validate();
        _logger = logger ?? NullLogger.Instance;
        _time = _options.TimeProvider;
        _fetches = new SemaphoreSlim(_options.ConcurrentFetchesMax, _options.ConcurrentFetchesMax);
        CorruptReports = new CorruptFetchReports(_options.CorruptReportsPendingMax);
    }

    /// <summary>Peers that sent corrupt bytes, waiting to be reported to the heads (the agent drains them).</summary>
    public CorruptFetchReports CorruptReports { get; }

    public long BlobsFromPeers => Interlocked.Read(ref _blobsFromPeers);

    public long BytesFromPeers => Interlocked.Read(ref _bytesFromPeers);

    /// <summary>Reads the store behind (the heads) answered with a blob (whole or part).</summary>
    public long BlobsFromHeads => Interlocked.Read(ref _blobsFromHeads);

    public long BytesFromHeads => Interlocked.Read(ref _bytesFromHeads);

    /// <summary>Peer answers whose bytes did not match the digest asked for.</summary>
    public long DigestFailures => Interlocked.Read(ref _digestFailures);

    /// <summary>Peer reads that failed otherwise (unreachable, timed out, broken off); a NOT_FOUND is not counted.</summary>
    public long PeerErrors => Interlocked.Read(ref _peerErrors);

    public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) =>
        _fallback.FindMissingAsync(instanceName, digests, missing, cancellationToken);

    public ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        _fallback.PutAsync(instanceName, digest, data, cancellationToken);

    public IBlobWriter BeginWrite(string instanceName, Digest digest) => _fallback.BeginWrite(instanceName, digest);

    public IDisposable Pin(string instanceName, Digest digest) => _fallback.Pin(instanceName, digest);

    public async ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
    {
        if (VerifyingReadStream.IsWhole(digest, offset, limit) && digest.SizeBytes >= _options.PeerFetchMinBytes && digest.SizeBytes > 0)
        {
            if (await FromPeersAsync(instanceName, digest, cancellationToken).ConfigureAwait(false) is { } fetched)
            {
                return fetched;
            }
        }

        var stream = await _fallback.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken).ConfigureAwait(false);
        if (stream is not null)
        {
            Interlocked.Increment(ref _blobsFromHeads);
            Interlocked.Add(ref _bytesFromHeads, VerifyingReadStream.ExpectedBytes(digest, offset, limit));
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
        Stream? spool = null;
        string? spoolPath = null;
        string? mismatch = null;
        try
        {
            var source = await ByteStreamReadStream.OpenAsync(new ByteStream.ByteStreamClient(_peers.For(peer)), instanceName, digest, 0, 0, _options.ReadAheadMessages, timeout.Token).ConfigureAwait(false);
            if (source is null)
            {
                return NotHeld(peer, digest);
            }

            // The check's own finding (what the bytes hashed to) is what the heads are told, not the whole message.
            var verifyingSource = new VerifyingReadStream(
                source,
                Convert.FromHexString(digest.Hash),
                digest.SizeBytes,
                detail =>
                {
                    mismatch = detail;
                    return new BlobVerificationException(digest, peer, detail);
                });
            await using (var verifying = verifyingSource)
            {
                spool = digest.SizeBytes <= _options.SpoolInMemoryMaxBytes
                    ? new MemoryStream(new byte[digest.SizeBytes], 0, (int)digest.SizeBytes, writable: true, publiclyVisible: true)
                    : new FileStream(spoolPath = _cache.NewTempPath(), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                await verifying.CopyToAsync(spool, CopyBufferBytes, timeout.Token).ConfigureAwait(false);
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
            Interlocked.Add(ref _bytesFromPeers, digest.SizeBytes);
            return verified;
        }
        catch (BlobVerificationException e)
        {
            Interlocked.Increment(ref _digestFailures);
            Suspect(peer);
            CorruptReports.Add(peer, digest, mismatch ?? e.Message);
            _logger.LogWarning("Peer {Peer} sent blob {Hash}/{Size} corrupt ({Error}); skipping it for {SuspectMs} ms", peer, digest.Hash, digest.SizeBytes, e.Message, _options.SuspectMs);
            return null;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return NotHeld(peer, digest);
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

    /// <summary>A large copy buffer: every chunk costs a hash update and a spool write.</summary>
    private const int CopyBufferBytes = 1 << 18;

    /// <summary>The directory is soft state: the peer lost or never kept the blob. Not the peer's fault.</summary>
    private Stream? NotHeld(string peer, Digest digest)
    {
        _logger.LogDebug("Peer {Peer} does not hold blob {Hash}/{Size}", peer, digest.Hash, digest.SizeBytes);
        return null;
    }

    private void Suspect(string peer) =>
        _suspectUntil[peer] = _time.GetTimestamp() + (long)(_options.SuspectMs / 1000.0 * _time.TimestampFrequency);
}
