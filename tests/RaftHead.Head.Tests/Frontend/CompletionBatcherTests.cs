using Grpc.Core;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Frontend;

public sealed class CompletionBatcherTests
{
    /// <summary>
    /// A log whose commits the test releases one at a time, applying to a real state machine in between: workers
    /// w1..w8, one leased operation each.
    /// </summary>
    private sealed class HeldLog
    {
        private readonly InstantLog _log = new();
        private readonly SemaphoreSlim _released = new(0);

        public HeldLog()
        {
            for (var i = 1; i <= 8; i++)
            {
                var worker = "w" + i;
                _log.ProposeAsync(Register(worker, slots: 1), CancellationToken.None);
                var op = _log.ProposeAsync(Submit("r" + i, action: "act" + i), CancellationToken.None).Result.Submit.OperationName;
                _log.ProposeAsync(Assign(1_500, (op, worker, 1u)), CancellationToken.None);
                Operations.Add(op);
            }
        }

        public List<string> Operations { get; } = new();

        public List<SchedulerCommand> Proposed { get; } = new();

        public Exception? FailNext { get; set; }

        public SchedulerState State => _log.Current;

        public async Task<SchedulerResult> ProposeAsync(SchedulerCommand command, CancellationToken cancellationToken)
        {
            lock (Proposed)
            {
                Proposed.Add(command);
            }

            await _released.WaitAsync(cancellationToken);
            if (FailNext is { } failure)
            {
                FailNext = null;
                throw failure;
            }

            return await _log.ProposeAsync(command, cancellationToken);
        }

        public void Release() => _released.Release();

        public async Task ProposedCountIsAsync(int count)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (true)
            {
                lock (Proposed)
                {
                    if (Proposed.Count >= count)
                    {
                        return;
                    }
                }

                await Task.Delay(1, deadline.Token);
            }
        }
    }

    private static CompleteOperation Done(HeldLog log, int worker) => Complete(log.Operations[worker - 1], "w" + worker).Complete;

    [Fact]
    public async Task A_lone_completion_is_proposed_at_once_as_a_plain_complete()
    {
        var log = new HeldLog();
        var batcher = new CompletionBatcher(log.ProposeAsync, batchMax: 16);

        var result = batcher.CompleteAsync(Done(log, 1), CancellationToken.None);
        await log.ProposedCountIsAsync(1);
        log.Release();

        Assert.Equal(SchedulerResultCode.Ok, (await result).Code);
        Assert.Equal(SchedulerCommand.CommandOneofCase.Complete, Assert.Single(log.Proposed).CommandCase);
        Assert.Equal(OperationPhase.Completed, log.State.FindOperation(log.Operations[0])!.Phase);
    }

    [Fact]
    public async Task Completions_arriving_during_a_commit_go_together_and_each_gets_its_own_answer()
    {
        var log = new HeldLog();
        var batcher = new CompletionBatcher(log.ProposeAsync, batchMax: 16);
        var first = batcher.CompleteAsync(Done(log, 1), CancellationToken.None);
        await log.ProposedCountIsAsync(1);

        var wrongWorker = Done(log, 3);
        wrongWorker.WorkerId = "w9";
        var waiting = new[] { batcher.CompleteAsync(Done(log, 2), CancellationToken.None), batcher.CompleteAsync(Done(log, 4), CancellationToken.None), batcher.CompleteAsync(wrongWorker, CancellationToken.None) };
        log.Release();
        await first;
        await log.ProposedCountIsAsync(2);
        log.Release();
        var answers = await Task.WhenAll(waiting);

        Assert.Equal(2, log.Proposed.Count);
        Assert.Equal(3, log.Proposed[1].CompleteBatch.Completions.Count);
        Assert.Equal([SchedulerResultCode.Ok, SchedulerResultCode.Ok, SchedulerResultCode.Stale], answers.Select(a => a.Code).ToArray());
        Assert.Contains("not w9", answers[2].Message, StringComparison.Ordinal);
        Assert.Equal(2, batcher.Entries);
        Assert.Equal(4, batcher.Completions);
    }

    [Fact]
    public async Task A_batch_larger_than_the_bound_goes_in_bound_sized_entries()
    {
        var log = new HeldLog();
        var batcher = new CompletionBatcher(log.ProposeAsync, batchMax: 2);
        var first = batcher.CompleteAsync(Done(log, 1), CancellationToken.None);
        await log.ProposedCountIsAsync(1);
        var rest = Enumerable.Range(2, 5).Select(w => batcher.CompleteAsync(Done(log, w), CancellationToken.None)).ToArray();
        for (var i = 0; i < 4; i++)
        {
            log.Release();
            await log.ProposedCountIsAsync(i + 2 > 4 ? 4 : i + 2);
        }

        await first;
        var answers = await Task.WhenAll(rest);

        Assert.All(answers, a => Assert.Equal(SchedulerResultCode.Ok, a.Code));
        Assert.Equal([1, 2, 2, 1], log.Proposed.Select(c => c.CompleteBatch?.Completions.Count ?? 1).ToArray());
    }

    [Fact]
    public async Task A_failed_commit_fails_every_completion_it_carried_and_the_next_ones_still_go()
    {
        var log = new HeldLog();
        var batcher = new CompletionBatcher(log.ProposeAsync, batchMax: 16);
        var first = batcher.CompleteAsync(Done(log, 1), CancellationToken.None);
        await log.ProposedCountIsAsync(1);
        var carried = new[] { batcher.CompleteAsync(Done(log, 2), CancellationToken.None), batcher.CompleteAsync(Done(log, 3), CancellationToken.None) };
        log.Release();
        await first;
        await log.ProposedCountIsAsync(2);
        log.FailNext = FrontendErrors.NotLeader(2, "127.0.0.1:1");
        log.Release();

        foreach (var failed in carried)
        {
            Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => failed)).StatusCode);
        }

        Assert.Equal(OperationPhase.Leased, log.State.FindOperation(log.Operations[1])!.Phase);
        var retried = batcher.CompleteAsync(Done(log, 2), CancellationToken.None);
        await log.ProposedCountIsAsync(3);
        log.Release();
        Assert.Equal(SchedulerResultCode.Ok, (await retried).Code);
    }
}
