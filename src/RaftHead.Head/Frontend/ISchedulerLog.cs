using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// The frontend's one way into the replicated scheduler: propose a command and get its result once applied here, wait
/// until this replica has applied everything committed (a linearizable-read barrier), read the applied state, and know
/// who leads. Failures come out as <see cref="Grpc.Core.RpcException"/> with the status a client should see
/// (<see cref="FrontendErrors"/>), so services never see consensus exceptions.
/// </summary>
public interface ISchedulerLog
{
    /// <summary>The state as of the last apply on this replica.</summary>
    SchedulerState Current { get; }

    /// <summary>Pulsed after every apply.</summary>
    ChangeFeed Changes { get; }

    /// <summary>Who leads, as this replica last saw it.</summary>
    LeaderInfo Leader { get; }

    /// <summary>
    /// Proposes <paramref name="command"/> and returns its result once applied here. Not the leader: UNAVAILABLE naming
    /// the leader when one is known (forwarding is the caller's next step). Back-pressure: RESOURCE_EXHAUSTED with RetryInfo.
    /// </summary>
    Task<SchedulerResult> ProposeAsync(SchedulerCommand command, CancellationToken cancellationToken);

    /// <summary>Completes once this replica applied everything committed when it was called: read <see cref="Current"/> after it.</summary>
    Task ReadBarrierAsync(CancellationToken cancellationToken);
}
