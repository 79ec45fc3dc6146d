using System.Buffers;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Peer;

/// <summary>
/// The worker's own blobs (its <see cref="FileCache"/>) served to peers through the REAPI read calls: ByteStream Read,
/// FindMissingBlobs and BatchReadBlobs. Read-only: a peer never writes here (outputs go to the heads), so every write
/// call is refused. The bytes go out as stored; the reader verifies them against the digest it asked for.
/// </summary>
public sealed class PeerBlobReads
{
    private readonly FileCache _cache;
    private long _readsAsked;
    private long _blobsServed;
    private long _bytesServed;

    public PeerBlobReads(FileCache cache) => _cache = cache ?? throw new ArgumentNullException(nameof(cache));

    /// <summary>ByteStream reads of a blob this worker holds, counted as they start (a reader may break one off).</summary>
    public long ReadsAsked => Interlocked.Read(ref _readsAsked);

    /// <summary>Whole or partial reads answered with bytes, to their end.</summary>
    public long BlobsServed => Interlocked.Read(ref _blobsServed);

    public long BytesServed => Interlocked.Read(ref _bytesServed);

    internal FileCache Cache => _cache;

    internal void Asked() => Interlocked.Increment(ref _readsAsked);

    internal void Served(long bytes)
    {
        Interlocked.Increment(ref _blobsServed);
        Interlocked.Add(ref _bytesServed, bytes);
    }

    internal static RpcException ReadOnly(string call) =>
        new(new Status(StatusCode.PermissionDenied, $"{call}: a worker's peer blob service is read-only; write blobs to a head"));
}

/// <summary>ByteStream over the worker's blobs: Read only.</summary>
public sealed class PeerByteStreamService(PeerBlobReads reads) : ByteStream.ByteStreamBase
{
    /// <summary>As the heads read: fewer, larger messages cost less per byte than many small ones.</summary>
    private const int ChunkBytes = 256 * 1024;

    public override async Task Read(ReadRequest request, IServerStreamWriter<ReadResponse> responseStream, ServerCallContext context)
    {
        var digest = ParseResource(request.ResourceName);
        if (request.ReadOffset < 0 || request.ReadLimit < 0 || request.ReadOffset > digest.SizeBytes)
        {
            throw new RpcException(new Status(StatusCode.OutOfRange, $"read_offset {request.ReadOffset} / read_limit {request.ReadLimit} out of range for a blob of {digest.SizeBytes} bytes"));
        }

        await using var file = reads.Cache.TryOpenRead(digest)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"blob {digest.Hash}/{digest.SizeBytes} is not held by this worker"));
        reads.Asked();
        var remaining = digest.SizeBytes - request.ReadOffset;
        if (request.ReadLimit > 0)
        {
            remaining = Math.Min(remaining, request.ReadLimit);
        }

        file.Seek(request.ReadOffset, SeekOrigin.Begin);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            var sent = 0L;
            while (sent < remaining)
            {
                var want = (int)Math.Min(ChunkBytes, remaining - sent);
                var n = await file.ReadAtLeastAsync(buffer.AsMemory(0, want), want, throwOnEndOfStream: false, context.CancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                // The writer serializes before returning, so the pooled buffer can be reused for the next chunk.
                await responseStream.WriteAsync(new ReadResponse { Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, n)) }, context.CancellationToken).ConfigureAwait(false);
                sent += n;
            }

            reads.Served(sent);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public override Task<WriteResponse> Write(IAsyncStreamReader<WriteRequest> requestStream, ServerCallContext context) =>
        throw PeerBlobReads.ReadOnly("Write");

    public override Task<QueryWriteStatusResponse> QueryWriteStatus(QueryWriteStatusRequest request, ServerCallContext context) =>
        throw PeerBlobReads.ReadOnly("QueryWriteStatus");

    /// <summary>Accepts <c>[instance/]blobs/{hash}/{size}</c>; the worker's blobs are not partitioned by instance.</summary>
    private static Digest ParseResource(string resource)
    {
        const string Marker = "blobs/";
        int at;
        if (resource.StartsWith(Marker, StringComparison.Ordinal))
        {
            at = 0;
        }
        else
        {
            var slash = resource.IndexOf("/" + Marker, StringComparison.Ordinal);
            at = slash < 0 ? -1 : slash + 1;
        }

        if (at < 0 || !Digests.TryParse(resource.AsSpan(at + Marker.Length), out var digest, out _))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"resource_name '{resource}' is not [instance/]blobs/{{hash}}/{{size}}"));
        }

        return digest;
    }
}

/// <summary>The CAS calls a peer may make: presence and small batched reads.</summary>
public sealed class PeerCasService(PeerBlobReads reads) : ContentAddressableStorage.ContentAddressableStorageBase
{
    /// <summary>Bytes one BatchReadBlobs answer carries at most; blobs beyond it are answered RESOURCE_EXHAUSTED (read them over ByteStream).</summary>
    private const long BatchReadMaxBytes = 4L * 1024 * 1024 - 64 * 1024;

    public override Task<FindMissingBlobsResponse> FindMissingBlobs(FindMissingBlobsRequest request, ServerCallContext context)
    {
        var response = new FindMissingBlobsResponse();
        foreach (var digest in request.BlobDigests)
        {
            if (!reads.Cache.Contains(digest))
            {
                response.MissingBlobDigests.Add(digest);
            }
        }

        return Task.FromResult(response);
    }

    public override async Task<BatchReadBlobsResponse> BatchReadBlobs(BatchReadBlobsRequest request, ServerCallContext context)
    {
        var response = new BatchReadBlobsResponse();
        var budget = BatchReadMaxBytes;
        foreach (var digest in request.Digests)
        {
            var item = new BatchReadBlobsResponse.Types.Response { Digest = digest, Status = new Google.Rpc.Status() };
            response.Responses.Add(item);
            if (digest.SizeBytes > budget)
            {
                item.Status.Code = (int)StatusCode.ResourceExhausted;
                item.Status.Message = "the answer would be too large; read this blob over ByteStream";
                continue;
            }

            await using var file = reads.Cache.TryOpenRead(digest);
            if (file is null)
            {
                item.Status.Code = (int)StatusCode.NotFound;
                item.Status.Message = "not held by this worker";
                continue;
            }

            var data = new byte[digest.SizeBytes];
            await file.ReadExactlyAsync(data, context.CancellationToken).ConfigureAwait(false);
            item.Data = UnsafeByteOperations.UnsafeWrap(data);
            budget -= data.Length;
            reads.Served(data.Length);
        }

        return response;
    }

    public override Task<BatchUpdateBlobsResponse> BatchUpdateBlobs(BatchUpdateBlobsRequest request, ServerCallContext context) =>
        throw PeerBlobReads.ReadOnly("BatchUpdateBlobs");
}
