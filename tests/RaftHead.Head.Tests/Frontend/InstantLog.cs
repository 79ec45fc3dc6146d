using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Tests.Frontend;

/// <summary>
/// A log of one that applies each command as it is proposed; leadership is whatever the test says, and
/// <see cref="Frozen"/>, when set, is what readers see instead of the applied state (a replica behind).
/// </summary>
internal sealed class InstantLog : ISchedulerLog
{
    private readonly SchedulerStateMachine _machine = new();
    private readonly object _gate = new();
    private long _index;

    public SchedulerState? Frozen { get; set; }

    public SchedulerState Current => Frozen ?? _machine.Current;

    public ChangeFeed Changes { get; } = new();

    public LeaderInfo Leader { get; set; } = new(true, 1, null, 1);

    public Task<SchedulerResult> ProposeAsync(SchedulerCommand command, CancellationToken cancellationToken)
    {
        if (!Leader.IsLeader)
        {
            throw FrontendErrors.NotLeader(Leader.LeaderId, Leader.LeaderAddress);
        }

        SchedulerResult result;
        lock (_gate)
        {
            command.Version = SchedulerStateMachine.CommandVersion;
            result = _machine.Apply(++_index, command);
        }

        Changes.Pulse();
        return Task.FromResult(result);
    }

    public Task ReadBarrierAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
