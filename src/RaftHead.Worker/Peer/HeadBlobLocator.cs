using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Protocol.V1;
using RaftHead.Storage.Remote;

namespace RaftHead.Worker.Peer;

/// <summary>Asks the heads' blob directory (WhereIs), leaving this worker itself out of the answer.</summary>
public sealed class HeadBlobLocator(HeadConnection heads, string workerId, int callTimeoutMs = 5_000) : IBlobLocator
{
    public async Task<IReadOnlyList<string>> PeersHoldingAsync(Digest digest, CancellationToken cancellationToken)
    {
        var request = new WhereIsRequest { Digest = digest, ExcludeWorkerId = workerId };
        var response = await heads.CallAsync(
            (invoker, token) => new WorkerProtocol.WorkerProtocolClient(invoker).WhereIsAsync(request, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(callTimeoutMs), cancellationToken: token)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        return response.PeerEndpoints;
    }
}
