using RaftHead.Compare.Etcd;
using RaftHead.Rpc;

namespace RaftHead.Compare;

/// <summary>etcd's v3 gRPC methods, called through our own RpcChannel (gRPC over h2c on the client port).</summary>
internal static class EtcdMethods
{
    public static readonly Method<PutRequest, PutResponse> Put = new("etcdserverpb.KV", "Put", MethodType.Unary, PutRequest.Parser, PutResponse.Parser);

    public static readonly Method<StatusRequest, StatusResponse> Status = new("etcdserverpb.Maintenance", "Status", MethodType.Unary, StatusRequest.Parser, StatusResponse.Parser, idempotent: true);
}
