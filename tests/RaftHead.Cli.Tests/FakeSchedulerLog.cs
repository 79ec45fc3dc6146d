using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Tests;

/// <summary>
/// A scheduler log that keeps the quarantine commands proposed to it and answers them as the scheduler does: NOT_FOUND
/// for a worker it was not told of, OK otherwise. Enough for the admin service behind a fake head.
/// </summary>
internal sealed class FakeSchedulerLog : ISchedulerLog
{
    private readonly HashSet<string> _workers;
    private readonly List<SchedulerCommand> _proposed = [];

    public FakeSchedulerLog(params string[] workers)
    {
        _workers = new HashSet<string>(workers, StringComparer.Ordinal);
    }

    public SchedulerState Current => SchedulerState.Empty;

    public ChangeFeed Changes { get; } = new();

    public LeaderInfo Leader => new(true, 1, null, 1);

    public List<SchedulerCommand> Proposed
    {
        get
        {
            lock (_proposed)
            {
                return [.. _proposed];
            }
        }
    }

    public Task<SchedulerResult> ProposeAsync(SchedulerCommand command, CancellationToken cancellationToken)
    {
        lock (_proposed)
        {
            _proposed.Add(command);
        }

        var worker = command.CommandCase switch
        {
            SchedulerCommand.CommandOneofCase.QuarantineWorker => command.QuarantineWorker.WorkerId,
            SchedulerCommand.CommandOneofCase.ReleaseWorker => command.ReleaseWorker.WorkerId,
            _ => throw new InvalidOperationException($"the admin service proposed {command.CommandCase}"),
        };
        return Task.FromResult(_workers.Contains(worker)
            ? new SchedulerResult { Code = SchedulerResultCode.Ok }
            : new SchedulerResult { Code = SchedulerResultCode.NotFound, Message = $"worker {worker} is not registered" });
    }

    public Task ReadBarrierAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
