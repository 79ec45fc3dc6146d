using RaftHead.Protocol.V1;
using RaftHead.Rpc.Server;

namespace RaftHead.Head.Admin;

/// <summary>Answers <c>rh</c>'s questions about this head.</summary>
public sealed class AdminService
{
    private readonly Func<GetCacheStatsResponse> _cacheStats;

    public AdminService(Func<GetCacheStatsResponse> cacheStats)
    {
        _cacheStats = cacheStats;
    }

    public ServiceDefinition Build() => new ServiceBuilder(AdminMethods.Service)
        .Unary(AdminMethods.GetCacheStats, (_, _) => ValueTask.FromResult(_cacheStats()))
        .Build();
}
