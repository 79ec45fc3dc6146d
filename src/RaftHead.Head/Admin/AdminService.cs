using RaftHead.Protocol.V1;
using RaftHead.Rpc.Server;

namespace RaftHead.Head.Admin;

/// <summary>Answers <c>rh</c>'s questions about this head.</summary>
public sealed class AdminService
{
    private readonly Func<GetCacheStatsResponse> _cacheStats;
    private readonly Func<ListOperationsRequest, ListOperationsResponse> _operations;

    public AdminService(Func<GetCacheStatsResponse> cacheStats, Func<ListOperationsRequest, ListOperationsResponse> operations)
    {
        _cacheStats = cacheStats;
        _operations = operations;
    }

    public ServiceDefinition Build() => new ServiceBuilder(AdminMethods.Service)
        .Unary(AdminMethods.GetCacheStats, (_, _) => ValueTask.FromResult(_cacheStats()))
        .Unary(AdminMethods.ListOperations, (request, _) => ValueTask.FromResult(_operations(request)))
        .Build();
}
