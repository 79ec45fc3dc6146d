using Grpc.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// The leader's end of <see cref="ForwardingSchedulerLog"/>: proposes a command another replica received. It never
/// forwards again: a head that no longer leads refuses (UNAVAILABLE naming its successor) and the sender follows.
/// </summary>
public sealed class SchedulerForwardingService : SchedulerForwarding.SchedulerForwardingBase
{
    private readonly ISchedulerLog _local;

    /// <param name="local">This replica's own log, not a forwarding one.</param>
    public SchedulerForwardingService(ISchedulerLog local)
    {
        ArgumentNullException.ThrowIfNull(local);
        _local = local;
    }

    public override Task<SchedulerResult> Propose(SchedulerCommand request, ServerCallContext context) =>
        _local.ProposeAsync(request, context.CancellationToken);
}
