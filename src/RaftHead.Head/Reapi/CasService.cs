using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Head.Replication;
using RaftHead.Protocol;
using RaftHead.Storage;
using RaftHead.Storage.Merkle;

namespace RaftHead.Head.Reapi;

/// <summary>ContentAddressableStorage: FindMissingBlobs, BatchUpdateBlobs, BatchReadBlobs and GetTree over one blob store.</summary>
public sealed class CasService : ContentAddressableStorage.ContentAddressableStorageBase
{
    private readonly IBlobStore _store;
    private readonly IBlobStore _localOnly;
    private readonly ReapiOptions _options;

    /// <param name="store">The store clients use.</param>
    /// <param name="options">Limits.</param>
    /// <param name="localOnly">
    /// The store for calls another head marks as <see cref="ReplicaCopy"/>: this head's own, below any replication, so a
    /// copy is not passed on. Defaults to <paramref name="store"/>.
    /// </param>
    public CasService(IBlobStore store, ReapiOptions options, IBlobStore? localOnly = null)
    {
        _store = store;
        _options = options;
        _localOnly = localOnly ?? store;
    }


    public override async Task<FindMissingBlobsResponse> FindMissingBlobs(FindMissingBlobsRequest request, ServerCallContext context)
    {
        ReapiErrors.CheckInstanceName(request.InstanceName);
        var digests = request.BlobDigests;
        for (var i = 0; i < digests.Count; i++)
        {
            ReapiErrors.CheckDigest(digests[i], $"blob_digests[{i}]");
        }

        var missing = new List<Digest>();
        await StoreFor(context).FindMissingAsync(request.InstanceName, digests, missing, context.CancellationToken).ConfigureAwait(false);
        var response = new FindMissingBlobsResponse();
        response.MissingBlobDigests.AddRange(missing);
        return response;
    }

    public override async Task<BatchUpdateBlobsResponse> BatchUpdateBlobs(BatchUpdateBlobsRequest request, ServerCallContext context)
    {
        ReapiErrors.CheckInstanceName(request.InstanceName);
        long total = 0;
        for (var i = 0; i < request.Requests.Count; i++)
        {
            var item = request.Requests[i];
            ReapiErrors.CheckDigest(item.Digest, $"requestStream[{i}].digest");
            total += item.Data.Length;
        }

        if (total > _options.MaxBatchTotalSizeBytes)
        {
            throw ReapiErrors.InvalidArgument("requestStream", $"the batch holds {total} bytes, more than max_batch_total_size_bytes ({_options.MaxBatchTotalSizeBytes}); use ByteStream Write for large blobs");
        }

        // All puts at once: the store group-commits concurrent writes under one fsync instead of one each.
        var store = StoreFor(context);
        var puts = new Task<Google.Rpc.Status>[request.Requests.Count];
        for (var i = 0; i < puts.Length; i++)
        {
            puts[i] = PutOneAsync(store, request.InstanceName, request.Requests[i], context.CancellationToken);
        }

        await Task.WhenAll(puts).ConfigureAwait(false);
        var response = new BatchUpdateBlobsResponse();
        for (var i = 0; i < puts.Length; i++)
        {
            response.Responses.Add(new BatchUpdateBlobsResponse.Types.Response { Digest = request.Requests[i].Digest, Status = await puts[i].ConfigureAwait(false) });
        }

        return response;
    }

    private static async Task<Google.Rpc.Status> PutOneAsync(IBlobStore store, string instanceName, BatchUpdateBlobsRequest.Types.Request item, CancellationToken cancellationToken)
    {
        if (item.Compressor != Compressor.Types.Value.Identity)
        {
            return new Google.Rpc.Status { Code = (int)StatusCode.InvalidArgument, Message = $"compressor {item.Compressor} is not supported; send identity" };
        }

        try
        {
            await store.PutAsync(instanceName, item.Digest, item.Data.Memory, cancellationToken).ConfigureAwait(false);
            return new Google.Rpc.Status();
        }
        catch (BlobDigestMismatchException e)
        {
            return new Google.Rpc.Status { Code = (int)StatusCode.InvalidArgument, Message = e.Message };
        }
        catch (BlobNotReplicatedException e)
        {
            var status = e.ToStatus();
            return new Google.Rpc.Status { Code = (int)status.StatusCode, Message = status.Detail };
        }
    }

    public override async Task<BatchReadBlobsResponse> BatchReadBlobs(BatchReadBlobsRequest request, ServerCallContext context)
    {
        ReapiErrors.CheckInstanceName(request.InstanceName);
        long total = 0;
        for (var i = 0; i < request.Digests.Count; i++)
        {
            ReapiErrors.CheckDigest(request.Digests[i], $"digests[{i}]");
            total += request.Digests[i].SizeBytes;
        }

        if (total > _options.MaxBatchTotalSizeBytes)
        {
            throw ReapiErrors.InvalidArgument("digests", $"the blobs asked for hold {total} bytes, more than max_batch_total_size_bytes ({_options.MaxBatchTotalSizeBytes}); use ByteStream Read for large blobs");
        }

        var store = StoreFor(context);
        var response = new BatchReadBlobsResponse();
        foreach (var digest in request.Digests)
        {
            var item = new BatchReadBlobsResponse.Types.Response { Digest = digest, Status = new Google.Rpc.Status() };
            var data = await store.ReadAllAsync(request.InstanceName, digest, context.CancellationToken).ConfigureAwait(false);
            if (data is null)
            {
                item.Status.Code = (int)StatusCode.NotFound;
                item.Status.Message = $"Blob {digest.Hash}/{digest.SizeBytes} not found.";
            }
            else
            {
                item.Data = UnsafeByteOperations.UnsafeWrap(data);
            }

            response.Responses.Add(item);
        }

        return response;
    }

    /// <summary>
    /// The tree below a root, breadth first, each distinct directory once (<see cref="TreeWalker"/>, the one walk of a
    /// tree); parts missing from the CAS are left out. With a page size the client pages itself: one page and the token
    /// of the next. Without one, every page is streamed. Page tokens are opaque and bound to the root.
    /// </summary>
    public override async Task GetTree(GetTreeRequest request, IServerStreamWriter<GetTreeResponse> responseStream, ServerCallContext context)
    {
        ReapiErrors.CheckInstanceName(request.InstanceName);
        ReapiErrors.CheckDigest(request.RootDigest, "root_digest");
        if (request.PageSize < 0)
        {
            throw ReapiErrors.InvalidArgument("page_size", "must not be negative");
        }

        var walker = new TreeWalker(StoreFor(context));
        IReadOnlyList<TreePage> pages;
        try
        {
            // A client that pages gets one page, and the walk goes no further than that page needs.
            pages = request.PageSize > 0
                ? [await walker.GetPageAsync(request.InstanceName, request.RootDigest, request.PageSize, request.PageToken, context.CancellationToken).ConfigureAwait(false)]
                : await walker.GetPagesAsync(request.InstanceName, request.RootDigest, 0, request.PageToken, context.CancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e) when (e.ParamName == "pageToken")
        {
            throw ReapiErrors.InvalidArgument("page_token", $"'{request.PageToken}' is not a token this server issued for this root");
        }
        catch (InvalidDirectoryException e)
        {
            throw ReapiErrors.InvalidArgument("root_digest", $"directory {e.Digest.Hash}/{e.Digest.SizeBytes} in the tree: {e.Reason}");
        }
        catch (MerkleLimitException e)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"root_digest: {e.Message}"));
        }

        foreach (var page in pages)
        {
            var response = new GetTreeResponse { NextPageToken = page.NextPageToken };
            response.Directories.AddRange(page.Directories);
            await responseStream.WriteAsync(response, context.CancellationToken).ConfigureAwait(false);
        }
    }

    private IBlobStore StoreFor(ServerCallContext context) => ReplicaCopy.IsMarked(context.RequestHeaders) ? _localOnly : _store;
}
