using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>How an operation ends: complete, fail and requeue, dead-letter, cancel.</summary>
public sealed class OutcomeTests
{
    private static (Scheduler Scheduler, string Operation) Leased(SchedulerLimits? limits = null, bool doNotCache = false)
    {
        var scheduler = new Scheduler(limits);
        scheduler.Ok(Register("w", slots: 2));
        scheduler.Ok(Register("v", slots: 2));
        var op = scheduler.Submit(Submit("r1", doNotCache: doNotCache));
        scheduler.Ok(Assign(1_000, (op, "w", 1)));
        return (scheduler, op);
    }

    [Fact]
    public void A_successful_result_completes_the_operation_frees_the_slot_and_fills_the_cache()
    {
        var (scheduler, op) = Leased();

        var outcome = scheduler.Ok(Complete(op, "w", at: 2_500)).Complete;

        Assert.True(outcome.Cached);
        Assert.Empty(outcome.SupersededWorkerId);
        var done = scheduler.Operation(op);
        Assert.Equal(OperationPhase.Completed, done.Phase);
        Assert.Null(done.Lease);
        Assert.Equal(2_500, done.FinishedAtUnixMs);
        Assert.Equal(0, scheduler.State.UsageOf("w")!.Slots);
        Assert.NotNull(scheduler.State.FindCachedResult("", DigestOf("a")));
        Assert.Equal(SubmitDisposition.Cached, scheduler.Ok(Submit("r2")).Submit.Disposition);
    }

    [Theory]
    [InlineData(1, 0, false)]
    [InlineData(0, 4, false)]
    [InlineData(0, 0, true)]
    public void Failed_runs_and_do_not_cache_results_are_not_cached(int exitCode, int statusCode, bool doNotCache)
    {
        var (scheduler, op) = Leased(doNotCache: doNotCache);
        Assert.False(scheduler.Ok(Complete(op, "w", exitCode: exitCode, statusCode: statusCode)).Complete.Cached);
        Assert.Equal(OperationPhase.Completed, scheduler.Operation(op).Phase);
        Assert.Null(scheduler.State.FindCachedResult("", DigestOf("a")));
    }

    [Fact]
    public void After_completion_the_action_is_no_longer_in_flight()
    {
        var (scheduler, op) = Leased();
        scheduler.Ok(Complete(op, "w", exitCode: 1));
        Assert.NotEqual(op, scheduler.Submit(Submit("r2")));
    }

    [Fact]
    public void An_earlier_attempts_result_wins_over_a_later_attempt_still_running()
    {
        var (scheduler, op) = Leased();
        scheduler.Ok(Dead("w", notBefore: 0));
        scheduler.Ok(Assign(3_500, (op, "v", 2)));

        // The worker declared dead was alive after all and reports its result.
        scheduler.Ok(Register("w"));
        var outcome = scheduler.Ok(Complete(op, "w", attempt: 1, at: 4_000)).Complete;

        Assert.Equal("v", outcome.SupersededWorkerId);
        Assert.Equal(0, scheduler.State.UsageOf("v")!.Slots);
        var done = scheduler.Operation(op);
        Assert.Equal(OperationPhase.Completed, done.Phase);
        Assert.Equal("superseded by the result of attempt 1", done.Attempts[1].FailureReason);
    }

    [Fact]
    public void A_result_for_a_requeued_operation_completes_it_and_leaves_the_queue()
    {
        var (scheduler, op) = Leased();
        scheduler.Ok(Fail(op, "w", 1, "lost connection", notBefore: 9_000));
        Assert.Equal(1, scheduler.State.QueuedCount);

        scheduler.Ok(Complete(op, "w", attempt: 1));

        Assert.Equal(0, scheduler.State.QueuedCount);
        Assert.Empty(scheduler.State.Queues);
    }

    [Fact]
    public void Results_that_do_not_match_a_lease_are_refused()
    {
        var (scheduler, op) = Leased();
        Assert.Contains("ran on w, not v", scheduler.Refused(Complete(op, "v"), SchedulerResultCode.Stale), StringComparison.Ordinal);
        Assert.Contains("never leased", scheduler.Refused(Complete(op, "w", attempt: 2), SchedulerResultCode.Stale), StringComparison.Ordinal);
        scheduler.Refused(Complete("operations/77", "w"), SchedulerResultCode.NotFound);
        Assert.Contains("attempt must be at least 1", scheduler.Refused(Complete(op, "w", attempt: 0), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        scheduler.Refused(Complete("", "w"), SchedulerResultCode.InvalidArgument);
        scheduler.Refused(Complete(op, ""), SchedulerResultCode.InvalidArgument);
        var noResult = Complete(op, "w");
        noResult.Complete.Result = null;
        Assert.Contains("result is missing", scheduler.Refused(noResult, SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);

        scheduler.Ok(Complete(op, "w"));
        scheduler.Refused(Complete(op, "w"), SchedulerResultCode.AlreadyFinished);
    }

    [Fact]
    public void A_failure_requeues_with_the_next_attempt_and_the_proposers_backoff()
    {
        var (scheduler, op) = Leased();

        var outcome = scheduler.Ok(Fail(op, "w", 1, "sandbox setup failed", at: 2_000, notBefore: 2_750)).Fail;

        Assert.True(outcome.Requeued);
        Assert.Equal(2u, outcome.Attempt);
        var requeued = scheduler.Operation(op);
        Assert.Equal(2_750, requeued.NotBeforeUnixMs);
        Assert.Equal("sandbox setup failed", requeued.Attempts[0].FailureReason);
        Assert.Equal(0, scheduler.State.UsageOf("w")!.Slots);
    }

    [Fact]
    public void The_retry_budget_ends_in_the_dead_letter_state_with_every_attempts_reason()
    {
        var (scheduler, op) = Leased();
        scheduler.Ok(Fail(op, "w", 1, "reason one"));
        scheduler.Ok(Assign(3_000, (op, "v", 2)));
        scheduler.Ok(Fail(op, "v", 2, "reason two"));
        scheduler.Ok(Assign(4_000, (op, "w", 3)));

        var outcome = scheduler.Ok(Fail(op, "w", 3, "reason three", at: 5_000)).Fail;

        Assert.True(outcome.DeadLettered);
        var dead = scheduler.Operation(op);
        Assert.Equal(OperationPhase.DeadLettered, dead.Phase);
        Assert.Equal(["reason one", "reason two", "reason three"], dead.Attempts.Select(a => a.FailureReason));
        Assert.Equal(["w", "v", "w"], dead.Attempts.Select(a => a.WorkerId));
        Assert.Equal((int)global::Grpc.Core.StatusCode.Aborted, dead.Status.Code);
        Assert.Contains("reason one", dead.Status.Message, StringComparison.Ordinal);
        Assert.Contains("reason three", dead.Status.Message, StringComparison.Ordinal);
        Assert.Equal(5_000, dead.FinishedAtUnixMs);
        Assert.Equal(0, scheduler.State.UnfinishedCount);
    }

    [Fact]
    public void Failures_that_do_not_match_the_current_lease_are_refused()
    {
        var (scheduler, op) = Leased();
        Assert.Contains("not attempt 1 on v", scheduler.Refused(Fail(op, "v", 1, "x"), SchedulerResultCode.Stale), StringComparison.Ordinal);
        scheduler.Refused(Fail(op, "w", 2, "x"), SchedulerResultCode.Stale);
        Assert.Contains("reason is empty", scheduler.Refused(Fail(op, "w", 1, ""), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        scheduler.Refused(Fail(op, "w", 1, new string('x', 5_000)), SchedulerResultCode.InvalidArgument);
        scheduler.Refused(Fail(op, "w", 0, "x"), SchedulerResultCode.InvalidArgument);
        scheduler.Refused(Fail("operations/77", "w", 1, "x"), SchedulerResultCode.NotFound);
        scheduler.Refused(Fail("", "w", 1, "x"), SchedulerResultCode.InvalidArgument);
        scheduler.Refused(Fail(op, "", 1, "x"), SchedulerResultCode.InvalidArgument);

        scheduler.Ok(Fail(op, "w", 1, "x"));
        Assert.Contains("not leased", scheduler.Refused(Fail(op, "w", 2, "x"), SchedulerResultCode.Stale), StringComparison.Ordinal);
    }

    [Fact]
    public void Dead_lettering_by_command_stops_the_worker_and_keeps_the_reason()
    {
        var (scheduler, op) = Leased();
        var queued = scheduler.Submit(Submit("r2", action: "b"));

        Assert.Equal("w", scheduler.Ok(DeadLetter(op, "poison action")).Cancel.CancelledWorkerId);
        Assert.Empty(scheduler.Ok(DeadLetter(queued, "poison action")).Cancel.CancelledWorkerId);

        var dead = scheduler.Operation(op);
        Assert.Equal(OperationPhase.DeadLettered, dead.Phase);
        Assert.Equal("dead-lettered: poison action", dead.Attempts[0].FailureReason);
        Assert.Contains("poison action", scheduler.Operation(queued).Status.Message, StringComparison.Ordinal);
        Assert.Equal(0, scheduler.State.UnfinishedCount);

        scheduler.Refused(DeadLetter(op, "again"), SchedulerResultCode.AlreadyFinished);
        scheduler.Refused(DeadLetter(op, ""), SchedulerResultCode.InvalidArgument);
        scheduler.Refused(DeadLetter("", "x"), SchedulerResultCode.InvalidArgument);
        scheduler.Refused(DeadLetter("operations/77", "x"), SchedulerResultCode.NotFound);
    }

    [Fact]
    public void Cancel_ends_a_queued_or_running_operation_and_names_the_worker_to_stop()
    {
        var (scheduler, running) = Leased();
        var queued = scheduler.Submit(Submit("r2", action: "b"));

        Assert.Equal("w", scheduler.Ok(Cancel(running, at: 3_000)).Cancel.CancelledWorkerId);
        Assert.Empty(scheduler.Ok(Cancel(queued, reason: "build interrupted")).Cancel.CancelledWorkerId);

        var cancelled = scheduler.Operation(running);
        Assert.Equal(OperationPhase.Cancelled, cancelled.Phase);
        Assert.Equal((int)global::Grpc.Core.StatusCode.Cancelled, cancelled.Status.Code);
        Assert.Equal(3_000, cancelled.FinishedAtUnixMs);
        Assert.Equal("build interrupted", scheduler.Operation(queued).Status.Message);
        Assert.Equal(0, scheduler.State.UsageOf("w")!.Slots);
        Assert.Empty(scheduler.State.Queues);

        scheduler.Refused(Cancel(running), SchedulerResultCode.AlreadyFinished);
        scheduler.Refused(Cancel("operations/77"), SchedulerResultCode.NotFound);
        scheduler.Refused(Cancel(""), SchedulerResultCode.InvalidArgument);
        scheduler.Refused(Cancel(queued, reason: new string('x', 5_000)), SchedulerResultCode.InvalidArgument);
    }
}
