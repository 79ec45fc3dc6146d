using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

public sealed class CompleteBatchTests
{
    private static SchedulerCommand Batch(params SchedulerCommand[] completions)
    {
        var batch = new CompleteBatch();
        foreach (var complete in completions)
        {
            batch.Completions.Add(complete.Complete);
        }

        return new SchedulerCommand { Version = SchedulerStateMachine.CommandVersion, CompleteBatch = batch };
    }

    /// <summary>Three workers, three leased operations (a, b, c on w1, w2, w3).</summary>
    private static (Scheduler Scheduler, string[] Operations) ThreeLeased()
    {
        var scheduler = new Scheduler();
        var operations = new string[3];
        for (var i = 0; i < 3; i++)
        {
            var worker = "w" + (i + 1);
            scheduler.Ok(Register(worker, slots: 1));
            operations[i] = scheduler.Submit(Submit("r" + i, action: "act" + i));
            scheduler.Ok(Assign(1_500, (operations[i], worker, 1u)));
        }

        return (scheduler, operations);
    }

    [Fact]
    public void A_batch_leaves_the_operations_and_the_cache_as_separate_completions_do()
    {
        var (batched, ops) = ThreeLeased();
        var (separate, same) = ThreeLeased();
        Assert.Equal(ops, same);
        var completions = new[] { Complete(ops[0], "w1"), Complete(ops[1], "w2", exitCode: 3), Complete(ops[2], "w3") };

        var outcome = batched.Ok(Batch(completions)).CompleteBatch;
        var alone = completions.Select(c => separate.Ok(c)).ToList();

        Assert.Equal(3, outcome.Results.Count);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(SchedulerResultCode.Ok, outcome.Results[i].Code);
            Assert.Equal(alone[i].Complete, outcome.Results[i].Complete);
            Assert.Equal(batched.State.Version, outcome.Results[i].Version);
            var op = batched.Operation(ops[i]);
            Assert.Equal(OperationPhase.Completed, op.Phase);
            Assert.Equal(separate.Operation(ops[i]).Result, op.Result);
        }

        // Exit code 3 is not cached; the others are, in both.
        Assert.Equal(separate.State.Cache.Count, batched.State.Cache.Count);
        Assert.Equal(2, batched.State.Cache.Count);
        Assert.Equal(0, batched.State.UnfinishedCount);
        Assert.Equal(0, batched.State.UsageOf("w1")!.Slots);
    }

    [Fact]
    public void Each_part_is_decided_against_the_state_the_earlier_parts_left()
    {
        var (scheduler, ops) = ThreeLeased();

        var outcome = scheduler.Ok(Batch(Complete(ops[0], "w1"), Complete(ops[0], "w1"), Complete(ops[1], "w9"), Complete("operations/999", "w1"))).CompleteBatch;

        Assert.Equal(
            [SchedulerResultCode.Ok, SchedulerResultCode.AlreadyFinished, SchedulerResultCode.Stale, SchedulerResultCode.NotFound],
            outcome.Results.Select(r => r.Code).ToArray());
        Assert.Equal(OperationPhase.Completed, scheduler.Operation(ops[0]).Phase);
        Assert.Equal(OperationPhase.Leased, scheduler.Operation(ops[1]).Phase);
    }

    [Fact]
    public void An_empty_or_oversized_batch_is_refused_and_changes_nothing()
    {
        var (scheduler, ops) = ThreeLeased();
        var small = new Scheduler(new SchedulerLimits { CompleteBatchMax = 2 });
        small.Ok(Register("w1", slots: 3));
        var queued = Enumerable.Range(0, 3).Select(i => small.Submit(Submit("r" + i, action: "act" + i))).ToArray();
        foreach (var op in queued)
        {
            small.Ok(Assign(1_500, (op, "w1", 1u)));
        }

        Assert.Contains("1 to 1024 completions, not 0", scheduler.Refused(Batch(), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        Assert.Contains("1 to 2 completions, not 3", small.Refused(Batch(queued.Select(op => Complete(op, "w1")).ToArray()), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        Assert.All(queued, op => Assert.Equal(OperationPhase.Leased, small.Operation(op).Phase));
        Assert.Equal(OperationPhase.Leased, scheduler.Operation(ops[0]).Phase);
    }

    [Fact]
    public void A_version_1_record_still_applies_and_cannot_carry_a_batch()
    {
        var (scheduler, ops) = ThreeLeased();
        var old = Complete(ops[0], "w1");
        old.Version = 1;
        scheduler.Ok(old);

        var batch = Batch(Complete(ops[1], "w2"));
        batch.Version = 1;
        scheduler.Refused(batch, SchedulerResultCode.UnsupportedVersion);
        Assert.Equal(OperationPhase.Completed, scheduler.Operation(ops[0]).Phase);
        Assert.Equal(OperationPhase.Leased, scheduler.Operation(ops[1]).Phase);
    }
}
