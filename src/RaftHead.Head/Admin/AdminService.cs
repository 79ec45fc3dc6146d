using Grpc.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Admin;

/// <summary>Answers <c>rh</c>'s questions about this head.</summary>
public sealed class AdminService : RaftHead.Protocol.V1.Admin.AdminBase
{
    private readonly Func<GetCacheStatsResponse> _cacheStats;
    private readonly Func<ListOperationsRequest, ListOperationsResponse> _operations;
    private readonly Func<GetNodeStatusResponse>? _nodeStatus;
    private readonly WorkerQuarantine? _quarantine;

    /// <param name="cacheStats">The cache's counters.</param>
    /// <param name="operations">The operations this head knows.</param>
    /// <param name="nodeStatus">The node's cluster status; null on a head that is not a cluster member.</param>
    /// <param name="quarantine">Quarantines and releases workers; null on a head without a scheduler.</param>
    public AdminService(
        Func<GetCacheStatsResponse> cacheStats,
        Func<ListOperationsRequest, ListOperationsResponse> operations,
        Func<GetNodeStatusResponse>? nodeStatus = null,
        WorkerQuarantine? quarantine = null)
    {
        _cacheStats = cacheStats;
        _operations = operations;
        _nodeStatus = nodeStatus;
        _quarantine = quarantine;
    }

    public override Task<GetCacheStatsResponse> GetCacheStats(GetCacheStatsRequest request, ServerCallContext context) =>
        Task.FromResult(_cacheStats());

    public override Task<ListOperationsResponse> ListOperations(ListOperationsRequest request, ServerCallContext context) =>
        Task.FromResult(_operations(request));

    public override Task<GetNodeStatusResponse> GetNodeStatus(GetNodeStatusRequest request, ServerCallContext context) =>
        _nodeStatus is null
            ? throw new RpcException(new Status(StatusCode.Unimplemented, "this head is not a cluster member (rh serve); node status is served by heads started with rh head or rh up"))
            : Task.FromResult(_nodeStatus());

    public override async Task<SetWorkerQuarantineResponse> SetWorkerQuarantine(SetWorkerQuarantineRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_quarantine is null)
        {
            throw new RpcException(new Status(StatusCode.Unimplemented, "this head schedules no workers, so it has none to quarantine"));
        }

        await _quarantine.SetAsync(request, context.CancellationToken).ConfigureAwait(false);
        return new SetWorkerQuarantineResponse();
    }
}
