using System.Runtime.InteropServices;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol;

namespace RaftHead.Storage.Remote;

/// <summary>
/// A head's CAS seen through REAPI: for a worker that keeps no CAS of its own (inputs are read from a head, outputs
/// written to one), and for a head copying blobs to and fetching them from a peer. Small blobs travel in batch calls,
/// large ones over ByteStream. This is the transport: its reads are not checked here, so a reader composes it under
/// <see cref="VerifyingBlobStore"/> (writes are hashed before they leave). Calls that can be repeated move to another head on UNAVAILABLE (see
/// <see cref="HeadConnection"/>); a ByteStream transfer already under way fails with its head instead.
/// </summary>
public sealed class RemoteBlobStore : IBlobStore
{
    private readonly HeadConnection _heads;
    private readonly RemoteBlobStoreOptions _options;

    public RemoteBlobStore(HeadConnection heads, RemoteBlobStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(heads);
        _heads = heads;
        _options = options ?? new RemoteBlobStoreOptions();
        _options.Validate();
    }

    public async ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken)
    {
        if (digests.Count == 0)
        {
            return;
        }

        var request = new FindMissingBlobsRequest { InstanceName = instanceName };
        request.BlobDigests.AddRange(digests);
        var response = await _heads.CallAsync(
            (invoker, token) => new ContentAddressableStorage.ContentAddressableStorageClient(invoker).FindMissingBlobsAsync(request, Options(token)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        missing.AddRange(response.MissingBlobDigests);
    }

    public async ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var actual = Digests.Compute(data.Span);
        if (data.Length != digest.SizeBytes || !string.Equals(actual.Hash, digest.Hash, StringComparison.Ordinal))
        {
            // Caught here, with the reason, rather than as a head's INVALID_ARGUMENT.
            throw new BlobDigestMismatchException(digest, actual.Hash, data.Length);
        }

        if (Digests.IsEmptyBlob(digest))
        {
            // Every head holds it already: a worker's empty stdout costs no call.
            return;
        }

        if (data.Length <= _options.BatchBlobMaxBytes)
        {
            var request = new BatchUpdateBlobsRequest { InstanceName = instanceName };
            request.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = UnsafeByteOperations.UnsafeWrap(data) });
            var response = await _heads.CallAsync(
                (invoker, token) => new ContentAddressableStorage.ContentAddressableStorageClient(invoker).BatchUpdateBlobsAsync(request, Options(token)).ResponseAsync,
                cancellationToken).ConfigureAwait(false);
            var status = response.Responses.Count == 1 ? response.Responses[0].Status : null;
            if (status is null || status.Code != (int)StatusCode.OK)
            {
                throw new IOException($"head {_heads.Current} did not store blob {digest.Hash}/{digest.SizeBytes}: {(status is null ? "no answer for it" : $"{(StatusCode)status.Code}: {status.Message}")}");
            }

            return;
        }

        // The bytes are in memory, so a whole upload can be repeated on another head.
        await _heads.CallAsync(
            async (invoker, token) =>
            {
                await using var writer = new ByteStreamBlobWriter(new ByteStream.ByteStreamClient(invoker), instanceName, digest, _options.WriteChunkBytes, _heads.Current);
                await writer.WriteAsync(data, token).ConfigureAwait(false);
                await writer.CommitAsync(token).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public IBlobWriter BeginWrite(string instanceName, Digest digest)
    {
        // Small blobs are gathered and put whole (repeatable on another head); large ones stream to the current head.
        return digest.SizeBytes <= _options.BatchBlobMaxBytes
            ? new BufferedBlobWriter(this, instanceName, digest)
            : new ByteStreamBlobWriter(new ByteStream.ByteStreamClient(_heads.CurrentInvoker), instanceName, digest, _options.WriteChunkBytes, _heads.Current);
    }

    public async ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var whole = VerifyingReadStream.IsWhole(digest, offset, limit);
        if (digest.SizeBytes == 0)
        {
            return whole && digest.Hash == Digests.EmptyHash ? new MemoryStream(Array.Empty<byte>(), writable: false) : null;
        }

        if (whole && digest.SizeBytes <= _options.BatchBlobMaxBytes)
        {
            return await ReadSmallAsync(instanceName, digest, cancellationToken).ConfigureAwait(false);
        }

        // The first answer tells a missing blob (and a dead head, while another may still serve) from a present one.
        return await _heads.CallAsync(
            async (invoker, token) => (Stream?)await ByteStreamReadStream.OpenAsync(new ByteStream.ByteStreamClient(invoker), instanceName, digest, offset, limit, _options.ReadAheadMessages, token).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A head's CAS cannot be pinned from a worker: the head keeps the inputs of leased work itself.</summary>
    public IDisposable Pin(string instanceName, Digest digest) => NoPin.Instance;

    private async ValueTask<Stream?> ReadSmallAsync(string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        var request = new BatchReadBlobsRequest { InstanceName = instanceName };
        request.Digests.Add(digest);
        var endpoint = "";
        var response = await _heads.CallAsync(
            (invoker, token) =>
            {
                endpoint = _heads.Current;
                return new ContentAddressableStorage.ContentAddressableStorageClient(invoker).BatchReadBlobsAsync(request, Options(token)).ResponseAsync;
            },
            cancellationToken).ConfigureAwait(false);
        var item = response.Responses.Count == 1 ? response.Responses[0] : null;
        if (item is null || item.Status?.Code == (int)StatusCode.NotFound)
        {
            return null;
        }

        if (item.Status is { Code: not (int)StatusCode.OK } status)
        {
            throw new IOException($"head {endpoint} could not read blob {digest.Hash}/{digest.SizeBytes}: {(StatusCode)status.Code}: {status.Message}");
        }

        var data = item.Data.Memory;
        return MemoryMarshal.TryGetArray(data, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(data.ToArray(), writable: false);
    }

    private CallOptions Options(CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow.AddMilliseconds(_options.CallTimeoutMs), cancellationToken: cancellationToken);

    private sealed class NoPin : IDisposable
    {
        public static readonly NoPin Instance = new();

        public void Dispose()
        {
        }
    }
}
