using Grpc.Core;
using RaftHead.Head.Frontend;
using RaftHead.Head.Reapi;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Admin;

/// <summary>
/// Quarantines a worker or releases it through the replicated scheduler, so every replica stops leasing to it at the
/// same log index. The request is checked here; the scheduler's refusals become the status an operator reads.
/// </summary>
public sealed class WorkerQuarantine
{
    /// <summary>The reason is shown in every <c>rh workers</c> row and kept in every snapshot: a sentence, not a log.</summary>
    public const int ReasonCharsMax = 500;

    private readonly ISchedulerLog _log;
    private readonly TimeProvider _time;
    private readonly TimeSpan _retryDelay;

    /// <param name="log">The head's scheduler log (a follower's forwards to the leader).</param>
    /// <param name="time">When a quarantine or release happened, as recorded in the log.</param>
    /// <param name="retryDelay">The back-off a refused-for-load proposal tells the client.</param>
    public WorkerQuarantine(ISchedulerLog log, TimeProvider time, TimeSpan retryDelay)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(time);
        _log = log;
        _time = time;
        _retryDelay = retryDelay;
    }

    /// <summary>Applies the request once committed; throws the gRPC status of a bad request or a refusal.</summary>
    public async Task SetAsync(SetWorkerQuarantineRequest request, CancellationToken cancellationToken)
    {
        var command = ToCommand(request, _time.GetUtcNow().ToUnixTimeMilliseconds());
        var result = await _log.ProposeAsync(command, cancellationToken).ConfigureAwait(false);
        if (result.Code != SchedulerResultCode.Ok)
        {
            throw Refusal(request, result, _retryDelay);
        }
    }

    /// <summary>The command for a valid request; INVALID_ARGUMENT naming the field otherwise.</summary>
    public static SchedulerCommand ToCommand(SetWorkerQuarantineRequest request, long nowUnixMs)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.WorkerId.Length == 0)
        {
            throw ReapiErrors.InvalidArgument("worker_id", "must name a worker (rh workers lists them)");
        }

        var reason = request.Reason.Trim();
        if (!request.Quarantined)
        {
            if (reason.Length > 0)
            {
                throw ReapiErrors.InvalidArgument("reason", "a release takes no reason; the reason belongs to a quarantine (quarantined = true)");
            }

            return new SchedulerCommand
            {
                Version = SchedulerStateMachine.CommandVersion,
                ReleaseWorker = new ReleaseWorker { WorkerId = request.WorkerId, AtUnixMs = nowUnixMs },
            };
        }

        if (reason.Length == 0)
        {
            throw ReapiErrors.InvalidArgument("reason", "a quarantine needs a reason, shown to whoever finds the worker idle");
        }

        if (reason.Length > ReasonCharsMax)
        {
            throw ReapiErrors.InvalidArgument("reason", $"{reason.Length} characters; at most {ReasonCharsMax}");
        }

        return new SchedulerCommand
        {
            Version = SchedulerStateMachine.CommandVersion,
            QuarantineWorker = new QuarantineWorker { WorkerId = request.WorkerId, Reason = reason, AtUnixMs = nowUnixMs },
        };
    }

    private static RpcException Refusal(SetWorkerQuarantineRequest request, SchedulerResult result, TimeSpan retryDelay) => result.Code switch
    {
        SchedulerResultCode.NotFound => new RpcException(new Status(
            StatusCode.NotFound,
            $"No worker '{request.WorkerId}' is registered (rh workers lists them; a worker that left must register again to be quarantined).")),
        SchedulerResultCode.UnsupportedVersion => new RpcException(new Status(
            StatusCode.FailedPrecondition,
            $"The cluster's scheduler does not know worker quarantine yet (a replica runs an older version; upgrade every head): {result.Message}")),
        _ => FrontendErrors.FromResult(result, retryDelay),
    };
}
