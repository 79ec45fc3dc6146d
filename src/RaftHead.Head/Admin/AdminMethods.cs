using RaftHead.Protocol.V1;
using RaftHead.Rpc;

namespace RaftHead.Head.Admin;

/// <summary>The rafthead.v1.Admin methods, declared once for the head and for <c>rh</c>.</summary>
public static class AdminMethods
{
    public const string Service = "rafthead.v1.Admin";

    public static readonly Method<GetCacheStatsRequest, GetCacheStatsResponse> GetCacheStats =
        new(Service, "GetCacheStats", MethodType.Unary, GetCacheStatsRequest.Parser, GetCacheStatsResponse.Parser, idempotent: true);

    public static readonly Method<ListOperationsRequest, ListOperationsResponse> ListOperations =
        new(Service, "ListOperations", MethodType.Unary, ListOperationsRequest.Parser, ListOperationsResponse.Parser, idempotent: true);
}
