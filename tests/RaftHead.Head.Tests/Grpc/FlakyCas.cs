using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;

namespace RaftHead.Head.Tests.Grpc;

/// <summary>A CAS whose FindMissingBlobs fails with UNAVAILABLE a set number of times, then answers.</summary>
internal sealed class FlakyCas : ContentAddressableStorage.ContentAddressableStorageBase
{
    private readonly int _failures;
    private int _attempts;

    public FlakyCas(int failures)
    {
        _failures = failures;
    }

    public int Attempts => Volatile.Read(ref _attempts);

    public override Task<FindMissingBlobsResponse> FindMissingBlobs(FindMissingBlobsRequest request, ServerCallContext context)
    {
        if (Interlocked.Increment(ref _attempts) <= _failures)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "warming up"));
        }

        return Task.FromResult(new FindMissingBlobsResponse { MissingBlobDigests = { request.BlobDigests } });
    }
}
