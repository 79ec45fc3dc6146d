using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;

namespace RaftHead.Bench;

/// <summary>
/// An action cache that always hits with one fixed result. GetActionResult is on the channel's retry list, so calling
/// it measures what the retry policy of <c>GrpcChannels.Create</c> costs a call that succeeds, against the same call
/// on a channel without one.
/// </summary>
internal sealed class BenchActionCache : ActionCache.ActionCacheBase
{
    private readonly ActionResult _result;

    public BenchActionCache(ActionResult result)
    {
        _result = result;
    }

    public override Task<ActionResult> GetActionResult(GetActionResultRequest request, ServerCallContext context) => Task.FromResult(_result);
}
