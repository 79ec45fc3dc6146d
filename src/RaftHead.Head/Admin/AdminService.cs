using Grpc.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Admin;

/// <summary>Answers <c>rh</c>'s questions about this head.</summary>
public sealed class AdminService : RaftHead.Protocol.V1.Admin.AdminBase
{
    private readonly Func<GetCacheStatsResponse> _cacheStats;
    private readonly Func<ListOperationsRequest, ListOperationsResponse> _operations;

    public AdminService(Func<GetCacheStatsResponse> cacheStats, Func<ListOperationsRequest, ListOperationsResponse> operations)
    {
        _cacheStats = cacheStats;
        _operations = operations;
    }

    public override Task<GetCacheStatsResponse> GetCacheStats(GetCacheStatsRequest request, ServerCallContext context) =>
        Task.FromResult(_cacheStats());

    public override Task<ListOperationsResponse> ListOperations(ListOperationsRequest request, ServerCallContext context) =>
        Task.FromResult(_operations(request));
}
