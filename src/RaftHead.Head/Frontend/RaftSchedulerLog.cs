using Google.Protobuf;
using RaftHead.Consensus.Driver;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// <see cref="ISchedulerLog"/> over our Raft: a command is encoded, proposed through the <see cref="RaftDriver"/>, and
/// its <see cref="SchedulerResult"/> decoded from what the state machine answered at apply. The driver must apply the
/// <see cref="ObservedStateMachine"/> given here, so <see cref="Changes"/> pulses after each apply.
/// </summary>
public sealed class RaftSchedulerLog : ISchedulerLog
{
    private readonly RaftDriver _driver;
    private readonly ObservedStateMachine _machine;
    private readonly TimeSpan _retryDelay;

    public RaftSchedulerLog(RaftDriver driver, ObservedStateMachine machine, TimeSpan retryDelay)
    {
        ArgumentNullException.ThrowIfNull(driver);
        ArgumentNullException.ThrowIfNull(machine);
        _driver = driver;
        _machine = machine;
        _retryDelay = retryDelay;
    }

    public SchedulerState Current => _machine.Inner.Current;

    public ChangeFeed Changes => _machine.Changes;

    public LeaderInfo Leader
    {
        get
        {
            var status = _driver.Status;
            return new LeaderInfo(status.IsLeader, status.Leader, status.LeaderAddress, status.Term);
        }
    }

    public async Task<SchedulerResult> ProposeAsync(SchedulerCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Version == 0)
        {
            command.Version = SchedulerStateMachine.CommandVersion;
        }

        byte[] answer;
        try
        {
            answer = await _driver.ProposeAsync(command.ToByteArray(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (FrontendErrors.FromConsensus(e, _retryDelay) is { } status)
        {
            throw status;
        }

        return SchedulerResult.Parser.ParseFrom(answer);
    }

    public async Task ReadBarrierAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _driver.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (FrontendErrors.FromConsensus(e, _retryDelay) is { } status)
        {
            throw status;
        }
    }
}
