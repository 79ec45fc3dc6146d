using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Worker.Tests.Agent;

/// <summary>A head that serves nothing itself and names the leader in its UNAVAILABLE answers.</summary>
internal sealed class NotLeaderWorkerProtocol(string leader) : WorkerProtocol.WorkerProtocolBase
{
    public int Calls;

    public override Task<WorkerRegisterResponse> Register(WorkerRegisterRequest request, ServerCallContext context)
    {
        Interlocked.Increment(ref Calls);
        throw new RpcException(new Status(StatusCode.Unavailable, "not the leader"), LeaderHint.Trailers(leader));
    }
}
