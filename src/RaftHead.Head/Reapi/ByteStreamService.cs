using System.Buffers;
using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Head.Replication;
using RaftHead.Protocol;
using RaftHead.Storage;

namespace RaftHead.Head.Reapi;

/// <summary>
/// google.bytestream over the CAS: chunked reads with offset and limit, and resumable writes. A write whose stream
/// breaks keeps what it received under its upload name, so QueryWriteStatus and a resumed Write can continue it.
/// </summary>
public sealed class ByteStreamService : ByteStream.ByteStreamBase, IAsyncDisposable
{
    /// <summary>Partial uploads kept for resumption, at most; the oldest is dropped beyond it.</summary>
    private const int MaxPartialUploads = 256;

    private readonly IBlobStore _store;
    private readonly IBlobStore _localOnly;
    private readonly ReapiOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, PartialUpload> _partial = new(StringComparer.Ordinal);

    /// <param name="store">The store clients use.</param>
    /// <param name="options">Limits.</param>
    /// <param name="timeProvider">The clock of partial uploads' ages.</param>
    /// <param name="localOnly">
    /// The store for calls another head marks as <see cref="ReplicaCopy"/>: this head's own, below any replication, so a
    /// copy is not passed on. Defaults to <paramref name="store"/>.
    /// </param>
    public ByteStreamService(IBlobStore store, ReapiOptions options, TimeProvider? timeProvider = null, IBlobStore? localOnly = null)
    {
        _store = store;
        _localOnly = localOnly ?? store;
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
    }


    public override async Task Read(ReadRequest request, IServerStreamWriter<ReadResponse> responseStream, ServerCallContext context)
    {
        if (!ResourceName.TryParseRead(request.ResourceName, out var resource, out var error))
        {
            throw ReapiErrors.InvalidArgument("resource_name", error);
        }

        if (resource!.Compressed)
        {
            throw new RpcException(new Status(StatusCode.Unimplemented, "compressed-blobs resources are not supported: this server advertises no compressors."));
        }

        var digest = resource.Digest;
        if (request.ReadOffset < 0 || request.ReadOffset > digest.SizeBytes)
        {
            throw new RpcException(new Status(StatusCode.OutOfRange, $"read_offset {request.ReadOffset} is outside blob {digest.Hash}/{digest.SizeBytes}."));
        }

        if (request.ReadLimit < 0)
        {
            throw ReapiErrors.InvalidArgument("read_limit", $"must not be negative, got {request.ReadLimit}");
        }

        await using var stream = await StoreFor(context).OpenReadAsync(resource.InstanceName, digest, request.ReadOffset, request.ReadLimit, context.CancellationToken).ConfigureAwait(false)
            ?? throw ReapiErrors.BlobNotFound(digest);
        var buffer = ArrayPool<byte>.Shared.Rent(_options.ReadChunkBytes);
        try
        {
            while (true)
            {
                var read = await stream.ReadAtLeastAsync(buffer.AsMemory(0, _options.ReadChunkBytes), _options.ReadChunkBytes, throwOnEndOfStream: false, context.CancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                // No copy: grpc-dotnet serialises the message into the response pipe before WriteAsync completes,
                // and the pooled buffer is refilled only after that.
                await responseStream.WriteAsync(new ReadResponse { Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, read)) }, context.CancellationToken).ConfigureAwait(false);
            }
        }
        catch (BlobCorruptException e)
        {
            throw new RpcException(new Status(StatusCode.DataLoss, $"Blob {digest.Hash}/{digest.SizeBytes}: {e.Message}"));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public override async Task<WriteResponse> Write(IAsyncStreamReader<WriteRequest> requestStream, ServerCallContext context)
    {
        var token = context.CancellationToken;
        if (!await requestStream.MoveNext(token).ConfigureAwait(false))
        {
            throw ReapiErrors.InvalidArgument("resource_name", "the Write stream held no request");
        }

        var first = requestStream.Current;
        var name = first.ResourceName;
        if (!ResourceName.TryParseWrite(name, out var resource, out var error))
        {
            throw ReapiErrors.InvalidArgument("resource_name", error);
        }

        if (resource!.Compressed)
        {
            throw new RpcException(new Status(StatusCode.Unimplemented, "compressed-blobs uploads are not supported: this server advertises no compressors."));
        }

        var digest = resource.Digest;
        var store = StoreFor(context);
        if (first.WriteOffset == 0 && await ExistsAsync(store, resource.InstanceName, digest, token).ConfigureAwait(false))
        {
            // Already stored: take the rest of the stream without storing it again.
            _partial.TryRemove(name, out _);
            while (await requestStream.MoveNext(token).ConfigureAwait(false))
            {
            }

            return new WriteResponse { CommittedSize = digest.SizeBytes };
        }

        var upload = await TakeUploadAsync(store, name, resource, first.WriteOffset).ConfigureAwait(false);
        var committed = false;
        try
        {
            var request = first;
            while (true)
            {
                if (request.ResourceName.Length > 0 && !string.Equals(request.ResourceName, name, StringComparison.Ordinal))
                {
                    throw ReapiErrors.InvalidArgument("resource_name", $"changed within one Write stream from '{name}' to '{request.ResourceName}'");
                }

                var writer = upload.Writer;
                if (request.WriteOffset != writer.BytesWritten)
                {
                    throw ReapiErrors.InvalidArgument("write_offset", $"is {request.WriteOffset} but {writer.BytesWritten} bytes of '{name}' are committed");
                }

                if (writer.BytesWritten + request.Data.Length > digest.SizeBytes)
                {
                    throw ReapiErrors.InvalidArgument("data", $"would grow blob {digest.Hash}/{digest.SizeBytes} past its size");
                }

                await writer.WriteAsync(request.Data.Memory, token).ConfigureAwait(false);
                if (request.FinishWrite)
                {
                    break;
                }

                if (!await requestStream.MoveNext(token).ConfigureAwait(false))
                {
                    // Not cancelled, yet no finish_write: keep what arrived for a resumed write.
                    await KeepForResumeAsync(name, upload).ConfigureAwait(false);
                    throw ReapiErrors.InvalidArgument("finish_write", $"the stream ended after {writer.BytesWritten} of {digest.SizeBytes} bytes without finish_write");
                }

                request = requestStream.Current;
            }

            try
            {
                await upload.Writer.CommitAsync(token).ConfigureAwait(false);
            }
            catch (BlobDigestMismatchException e)
            {
                throw ReapiErrors.InvalidArgument("data", e.Message);
            }
            catch (BlobNotReplicatedException e)
            {
                throw new RpcException(e.ToStatus());
            }

            committed = true;
            return new WriteResponse { CommittedSize = digest.SizeBytes };
        }
        catch (OperationCanceledException) when (!committed)
        {
            await KeepForResumeAsync(name, upload).ConfigureAwait(false);
            throw;
        }
        catch (Exception) when (!committed && !_partial.ContainsKey(name))
        {
            await upload.Writer.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            if (committed)
            {
                await upload.Writer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public override async Task<QueryWriteStatusResponse> QueryWriteStatus(QueryWriteStatusRequest request, ServerCallContext context)
    {
        if (!ResourceName.TryParseWrite(request.ResourceName, out var resource, out var error))
        {
            throw ReapiErrors.InvalidArgument("resource_name", error);
        }

        if (await ExistsAsync(StoreFor(context), resource!.InstanceName, resource.Digest, context.CancellationToken).ConfigureAwait(false))
        {
            return new QueryWriteStatusResponse { CommittedSize = resource.Digest.SizeBytes, Complete = true };
        }

        if (_partial.TryGetValue(request.ResourceName, out var upload))
        {
            return new QueryWriteStatusResponse { CommittedSize = upload.Writer.BytesWritten, Complete = false };
        }

        throw new RpcException(new Status(StatusCode.NotFound, $"No upload '{request.ResourceName}' is in progress and the blob is not stored."));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (name, _) in _partial)
        {
            if (_partial.TryRemove(name, out var upload))
            {
                await upload.Writer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async ValueTask<bool> ExistsAsync(IBlobStore store, string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        var missing = new List<Digest>(1);
        await store.FindMissingAsync(instanceName, new[] { digest }, missing, cancellationToken).ConfigureAwait(false);
        return missing.Count == 0;
    }

    private async ValueTask<PartialUpload> TakeUploadAsync(IBlobStore store, string name, ResourceName resource, long writeOffset)
    {
        if (_partial.TryRemove(name, out var previous))
        {
            if (writeOffset != 0 && writeOffset == previous.Writer.BytesWritten)
            {
                return previous;
            }

            // A restart from zero, or an offset we cannot continue from: begin again.
            await previous.Writer.DisposeAsync().ConfigureAwait(false);
        }

        if (writeOffset != 0)
        {
            throw ReapiErrors.InvalidArgument("write_offset", $"is {writeOffset} but nothing of '{name}' is committed; start at 0");
        }

        return new PartialUpload(store.BeginWrite(resource.InstanceName, resource.Digest), _time.GetUtcNow());
    }

    private async ValueTask KeepForResumeAsync(string name, PartialUpload upload)
    {
        _partial[name] = upload with { KeptAt = _time.GetUtcNow() };
        while (_partial.Count > MaxPartialUploads)
        {
            var oldest = default(KeyValuePair<string, PartialUpload>);
            foreach (var entry in _partial)
            {
                if (oldest.Key is null || entry.Value.KeptAt < oldest.Value.KeptAt)
                {
                    oldest = entry;
                }
            }

            if (oldest.Key is not null && _partial.TryRemove(oldest.Key, out var dropped))
            {
                await dropped.Writer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private IBlobStore StoreFor(ServerCallContext context) => ReplicaCopy.IsMarked(context.RequestHeaders) ? _localOnly : _store;

    private sealed record PartialUpload(IBlobWriter Writer, DateTimeOffset KeptAt);
}
