using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using RaftHead.Storage.Remote;

namespace RaftHead.Head.Replication;

/// <summary>
/// This head's CAS plus copies on its peers, so that any head is a full REAPI endpoint and a blob survives the loss of
/// one head. A write is stored (and verified) here first, then copied to peers until
/// <see cref="ReplicatedBlobStoreOptions.CopiesRequired"/> heads hold it; only then does it return, else it throws
/// <see cref="BlobNotReplicatedException"/>. A read this head cannot serve is fetched from a peer, verified against
/// its digest on the way into the local store, and served from there. Calls to peers carry the
/// <see cref="ReplicaCopy"/> mark, so a peer stores or serves them locally and never passes them on. With no peers this
/// is the local store. The local store is the caller's; this store does not dispose it.
/// </summary>
public sealed class ReplicatedBlobStore : IBlobStore, IAsyncDisposable
{
    private readonly IBlobStore _local;
    private readonly Peer[] _peers;
    private readonly ReplicatedBlobStoreOptions _options;
    private readonly int _copiesRequired;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Blobs stored here whose write fell short of the copies required, keyed by <see cref="Key"/>.</summary>
    private readonly ConcurrentDictionary<string, byte> _underReplicated = new(StringComparer.Ordinal);

    /// <param name="local">This head's store; every write lands here first and every read is tried here first.</param>
    /// <param name="peerEndpoints">The other heads (<c>host:port</c>), not this one.</param>
    /// <param name="channels">
    /// The pool the peers' channels come from; its owner disposes it. One without retries of its own
    /// (<see cref="HeadConnection.ChannelSettings"/>) moves on from a dead peer at once.
    /// </param>
    /// <param name="options">Copies required and peer timeouts.</param>
    /// <param name="logger">Peer failures and fetches.</param>
    public ReplicatedBlobStore(IBlobStore local, IReadOnlyList<string> peerEndpoints, GrpcChannels channels, ReplicatedBlobStoreOptions options, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(peerEndpoints);
        ArgumentNullException.ThrowIfNull(channels);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _local = local;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        var remote = new RemoteBlobStoreOptions { BatchBlobMaxBytes = options.PeerBatchBlobMaxBytes, CallTimeoutMs = options.PeerCallTimeoutMs };

        // One attempt per call: on failure this store moves on to the next peer itself rather than waiting on one.
        var once = new HeadConnectionOptions { UnavailableBudgetMs = 1, BackoffInitialMs = 1, BackoffMaxMs = 1 };
        _peers = new Peer[peerEndpoints.Count];
        for (var i = 0; i < _peers.Length; i++)
        {
            var endpoint = peerEndpoints[i];
            var connection = new HeadConnection([endpoint], channels, once, headers: ReplicaCopy.Headers());
            // Another head's bytes are checked like any untrusted source's before this head keeps them.
            _peers[i] = new Peer(endpoint, new VerifyingBlobStore(new RemoteBlobStore(connection, remote), () => endpoint));
        }

        _copiesRequired = Math.Min(options.CopiesRequired, 1 + _peers.Length);
        if (_copiesRequired < options.CopiesRequired)
        {
            _logger.LogWarning(
                "{Copies} copies of each blob are required but there are only {Heads} heads; each write is acknowledged with {Effective}",
                options.CopiesRequired,
                1 + _peers.Length,
                _copiesRequired);
        }
    }

    /// <summary>Heads that hold a blob, this one included, when a write is acknowledged.</summary>
    public int CopiesRequired => _copiesRequired;

    /// <summary>
    /// Asks this head, then the peers for what this head lacks. Blobs stored here whose write fell short of the copies
    /// required are reported missing, so a client that retries a failed write uploads it again (and so replicates it)
    /// instead of being told it is already there.
    /// </summary>
    public async ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken)
    {
        var locallyMissing = new List<Digest>();
        await _local.FindMissingAsync(instanceName, digests, locallyMissing, cancellationToken).ConfigureAwait(false);
        if (locallyMissing.Count == 0 && _underReplicated.IsEmpty)
        {
            return;
        }

        // A blob another head holds is not missing: any head is a full endpoint and reads through to its peers. So a
        // client that uploaded through one head is not asked to upload again through another, and an action result
        // whose outputs a worker stored on the leader is complete when looked up on a follower. Only the locally
        // missing digests cost a peer call; one no reachable peer holds is missing.
        var stillMissing = locallyMissing;
        foreach (var peer in _peers)
        {
            if (stillMissing.Count == 0)
            {
                break;
            }

            var absentThere = new List<Digest>();
            try
            {
                await peer.Store.FindMissingAsync(instanceName, stillMissing, absentThere, cancellationToken).ConfigureAwait(false);
                stillMissing = absentThere;
            }
            catch (Exception e) when (e is RpcException or HeadsUnavailableException && !cancellationToken.IsCancellationRequested)
            {
                _logger.LogDebug("FindMissing on peer {Peer} failed: {Reason}", peer.Endpoint, e.Message);
            }
        }

        var absent = new HashSet<Digest>(stillMissing);
        foreach (var digest in digests)
        {
            // A write here that fell short of its copies stays missing, so the client's retry makes the copies.
            if (absent.Contains(digest) || (!_underReplicated.IsEmpty && _underReplicated.ContainsKey(Key(instanceName, digest))))
            {
                missing.Add(digest);
            }
        }
    }

    public async ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _local.PutAsync(instanceName, digest, data, cancellationToken).ConfigureAwait(false);
        if (_copiesRequired > 1)
        {
            // The bytes are verified (the local store took them) and in memory: each peer gets them as they are.
            await ReplicateAsync(instanceName, digest, (peer, token) => peer.Store.PutAsync(instanceName, digest, data, token), cancellationToken).ConfigureAwait(false);
        }
    }

    public IBlobWriter BeginWrite(string instanceName, Digest digest)
    {
        var local = _local.BeginWrite(instanceName, digest);
        return _copiesRequired > 1 ? new ReplicatingBlobWriter(this, local, instanceName, digest) : local;
    }

    public async ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
    {
        var stream = await _local.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken).ConfigureAwait(false);
        if (stream is not null || _peers.Length == 0)
        {
            return stream;
        }

        // Pinned from before the fetch until it is open again here, so eviction cannot take it in between.
        using var pin = _local.Pin(instanceName, digest);
        if (!await FetchFromPeersAsync(instanceName, digest, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return await _local.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken).ConfigureAwait(false);
    }

    public IDisposable Pin(string instanceName, Digest digest) => _local.Pin(instanceName, digest);

    /// <summary>
    /// Cancels copies and fetches under way, so a stopping head does not wait out a long transfer. The token source is
    /// left undisposed on purpose: calls still arriving while the server drains link to it, and it holds no timer.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>After the local commit of a streamed write: copies the blob from the local store to peers.</summary>
    internal ValueTask ReplicateFromLocalAsync(string instanceName, Digest digest, CancellationToken cancellationToken) =>
        ReplicateAsync(instanceName, digest, (peer, token) => CopyFromLocalAsync(peer, instanceName, digest, token), cancellationToken);

    /// <summary>
    /// Copies a blob already stored here to peers, in an order that spreads blobs over them, until enough heads hold
    /// it. A peer that fails is logged and the next one tried; when none is left the write is refused.
    /// </summary>
    private async ValueTask ReplicateAsync(string instanceName, Digest digest, Func<Peer, CancellationToken, ValueTask> copy, CancellationToken cancellationToken)
    {
        var copies = 1;
        List<string>? failures = null;
        var first = FirstPeer(digest);
        for (var i = 0; i < _peers.Length && copies < _copiesRequired; i++)
        {
            var peer = _peers[(first + i) % _peers.Length];
            using var transfer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
            transfer.CancelAfter(_options.PeerTransferTimeoutMs);
            try
            {
                await copy(peer, transfer.Token).ConfigureAwait(false);
                copies++;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                var reason = Describe(e, transfer.IsCancellationRequested);
                _logger.LogWarning("Blob {Digest}/{Size} not copied to peer {Peer}: {Reason}", digest.Hash, digest.SizeBytes, peer.Endpoint, reason);
                (failures ??= new List<string>()).Add($"peer {peer.Endpoint} {reason}");
            }
        }

        var key = Key(instanceName, digest);
        if (copies >= _copiesRequired)
        {
            if (!_underReplicated.IsEmpty)
            {
                _underReplicated.TryRemove(key, out _);
            }

            return;
        }

        if (_underReplicated.Count < _options.UnderReplicatedMax)
        {
            _underReplicated.TryAdd(key, 0);
        }

        throw new BlobNotReplicatedException(digest, copies, _copiesRequired, (IReadOnlyList<string>?)failures ?? Array.Empty<string>());
    }

    /// <summary>Streams a blob from the local store to one peer, a chunk at a time: a large blob is never whole in memory.</summary>
    private async ValueTask CopyFromLocalAsync(Peer peer, string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        var source = await _local.OpenReadAsync(instanceName, digest, 0, 0, cancellationToken).ConfigureAwait(false)
            ?? throw new IOException("the blob is no longer stored here to copy from");
        await using (source.ConfigureAwait(false))
        {
            var writer = peer.Store.BeginWrite(instanceName, digest);
            await using (writer.ConfigureAwait(false))
            {
                await CopyAsync(source, writer, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Fetches a blob this head lacks from the first peer that has it, into the local store. The bytes are verified on
    /// the way (by the remote read and again by the local commit); a peer that sends others is logged and skipped.
    /// </summary>
    private async ValueTask<bool> FetchFromPeersAsync(string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        var first = FirstPeer(digest);
        for (var i = 0; i < _peers.Length; i++)
        {
            var peer = _peers[(first + i) % _peers.Length];
            using var transfer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
            transfer.CancelAfter(_options.PeerTransferTimeoutMs);
            try
            {
                var source = await peer.Store.OpenReadAsync(instanceName, digest, 0, 0, transfer.Token).ConfigureAwait(false);
                if (source is null)
                {
                    continue;
                }

                await using (source.ConfigureAwait(false))
                {
                    var writer = _local.BeginWrite(instanceName, digest);
                    await using (writer.ConfigureAwait(false))
                    {
                        await CopyAsync(source, writer, transfer.Token).ConfigureAwait(false);
                    }
                }

                _logger.LogInformation("Blob {Digest}/{Size} fetched from peer {Peer}", digest.Hash, digest.SizeBytes, peer.Endpoint);
                return true;
            }
            catch (Exception e) when (e is BlobVerificationException or BlobDigestMismatchException)
            {
                _logger.LogWarning("Peer {Peer} sent bytes that are not blob {Digest}/{Size}; not trusted: {Reason}", peer.Endpoint, digest.Hash, digest.SizeBytes, e.Message);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                _logger.LogWarning("Blob {Digest}/{Size} not fetched from peer {Peer}: {Reason}", digest.Hash, digest.SizeBytes, peer.Endpoint, Describe(e, transfer.IsCancellationRequested));
            }
        }

        return false;
    }

    private async ValueTask CopyAsync(Stream source, IBlobWriter writer, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(_options.CopyChunkBytes);
        try
        {
            while (true)
            {
                var read = await source.ReadAsync(buffer.AsMemory(0, _options.CopyChunkBytes), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                // Writers copy or send the bytes before they return, so the buffer may be refilled at once.
                await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }

            await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Where in the peer list a blob's copies start: by its hash, so blobs spread evenly over the peers.</summary>
    private int FirstPeer(Digest digest)
    {
        if (_peers.Length <= 1)
        {
            return 0;
        }

        var hash = digest.Hash;
        return hash.Length >= 8 && uint.TryParse(hash.AsSpan(0, 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var prefix)
            ? (int)(prefix % (uint)_peers.Length)
            : 0;
    }

    private static string Key(string instanceName, Digest digest) => $"{instanceName}\n{digest.Hash}/{digest.SizeBytes}";

    private static string Describe(Exception e, bool timedOut)
    {
        var rpc = e as RpcException ?? e.InnerException as RpcException;
        if (rpc is not null)
        {
            return rpc.StatusCode == StatusCode.Unavailable ? $"unreachable ({rpc.Status.Detail})" : $"failed ({rpc.StatusCode}: {rpc.Status.Detail})";
        }

        return timedOut ? "timed out" : $"failed ({e.Message})";
    }

    private sealed record Peer(string Endpoint, IBlobStore Store);
}
