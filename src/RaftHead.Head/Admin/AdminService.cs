using Grpc.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Admin;

/// <summary>Answers <c>rh</c>'s questions about this head.</summary>
public sealed class AdminService : RaftHead.Protocol.V1.Admin.AdminBase
{
    private readonly Func<GetCacheStatsResponse> _cacheStats;
    private readonly Func<ListOperationsRequest, ListOperationsResponse> _operations;
    private readonly Func<GetNodeStatusResponse>? _nodeStatus;

    /// <param name="cacheStats">The cache's counters.</param>
    /// <param name="operations">The operations this head knows.</param>
    /// <param name="nodeStatus">The node's cluster status; null on a head that is not a cluster member.</param>
    public AdminService(
        Func<GetCacheStatsResponse> cacheStats,
        Func<ListOperationsRequest, ListOperationsResponse> operations,
        Func<GetNodeStatusResponse>? nodeStatus = null)
    {
        _cacheStats = cacheStats;
        _operations = operations;
        _nodeStatus = nodeStatus;
    }

    public override Task<GetCacheStatsResponse> GetCacheStats(GetCacheStatsRequest request, ServerCallContext context) =>
        Task.FromResult(_cacheStats());

    public override Task<ListOperationsResponse> ListOperations(ListOperationsRequest request, ServerCallContext context) =>
        Task.FromResult(_operations(request));

    public override Task<GetNodeStatusResponse> GetNodeStatus(GetNodeStatusRequest request, ServerCallContext context) =>
        _nodeStatus is null
            ? throw new RpcException(new Status(StatusCode.Unimplemented, "this head is not a cluster member (rh serve); node status is served by heads started with rh head or rh up"))
            : Task.FromResult(_nodeStatus());
}
