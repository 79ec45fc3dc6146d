using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Protocol.V1;
using RaftHead.Storage;

namespace RaftHead.Head.Frontend;

/// <summary>
/// The action cache as the replicated scheduler state holds it: an update is a log entry (so every head answers the
/// same after a leader dies), a lookup reads this replica's applied state. A hit is served as it is (an entry, once
/// written, is a valid answer however stale the replica); a miss is confirmed after a read barrier, so a client that
/// wrote a result through one head finds it through any other.
/// </summary>
public sealed class ReplicatedActionCache : IActionCache
{
    /// <summary>Bound on one stored result: it travels in one log entry, below the log's proposal limit.</summary>
    public const int ResultBytesMax = 512 * 1024;

    private readonly ISchedulerLog _log;
    private readonly TimeProvider _time;
    private readonly TimeSpan _retryDelay;

    public ReplicatedActionCache(ISchedulerLog log, TimeProvider time, TimeSpan retryDelay)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(time);
        _log = log;
        _time = time;
        _retryDelay = retryDelay;
    }

    public async ValueTask<ActionResult?> GetAsync(string instanceName, Digest actionDigest, CancellationToken cancellationToken)
    {
        if (_log.Current.FindCachedResult(instanceName, actionDigest) is { } hit)
        {
            return hit;
        }

        await _log.ReadBarrierAsync(cancellationToken).ConfigureAwait(false);
        return _log.Current.FindCachedResult(instanceName, actionDigest);
    }

    public async ValueTask PutAsync(string instanceName, Digest actionDigest, ActionResult result, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(result);
        var size = result.CalculateSize();
        if (size > ResultBytesMax)
        {
            throw new RpcException(new Status(
                StatusCode.InvalidArgument,
                string.Create(CultureInfo.InvariantCulture, $"action_result: {size} bytes encoded is more than the {ResultBytesMax} this server caches; store large stdout, stderr and file contents in the CAS and name them by digest")));
        }

        var update = new UpdateActionCache
        {
            InstanceName = instanceName,
            ActionDigest = actionDigest,
            Result = result,
            UpdatedAtUnixMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        var outcome = await _log.ProposeAsync(new SchedulerCommand { UpdateActionCache = update }, cancellationToken).ConfigureAwait(false);
        if (outcome.Code != SchedulerResultCode.Ok)
        {
            throw FrontendErrors.FromResult(outcome, _retryDelay);
        }
    }
}
