using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>Speculative clones, late results compared for non-determinism, and quarantined workers, at the state machine.</summary>
public sealed class SpeculationTests
{
    /// <summary>An operation running on "slow" (attempt 1) with a clone on "fast" (attempt 2).</summary>
    private static (Scheduler Scheduler, string Operation) Cloned()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("slow", slots: 1));
        scheduler.Ok(Register("fast", slots: 1));
        var op = scheduler.Submit(Submit("r1"));
        Assert.Equal(SchedulerResultCode.Ok, Assert.Single(scheduler.Ok(Assign(1_000, (op, "slow", 1))).AssignLeases.Grants).Code);
        var clone = Assert.Single(scheduler.Ok(Clone(3_000, op, "fast", 2)).AssignLeases.Grants);
        Assert.True(clone.Code == SchedulerResultCode.Ok, clone.Message);
        return (scheduler, op);
    }

    private static ActionResult Outputs(params (string Path, string Content)[] files)
    {
        var result = new ActionResult();
        foreach (var (path, content) in files)
        {
            result.OutputFiles.Add(new OutputFile { Path = path, Digest = RaftHead.Protocol.Digests.Compute(System.Text.Encoding.UTF8.GetBytes(content)) });
        }

        return result;
    }

    [Fact]
    public void A_clone_runs_beside_the_original_on_another_worker_holding_its_own_slot()
    {
        var (scheduler, op) = Cloned();

        var operation = scheduler.Operation(op);
        Assert.Equal(OperationPhase.Leased, operation.Phase);
        Assert.Equal("slow", operation.Lease.WorkerId);
        Assert.Equal("fast", operation.CloneLease.WorkerId);
        Assert.Equal(2u, operation.CloneAttempt);
        Assert.True(operation.Attempts[1].Speculative);
        Assert.Equal(1, scheduler.State.UsageOf("slow")!.Slots);
        Assert.Equal(1, scheduler.State.UsageOf("fast")!.Slots);
        Assert.Equal(1, scheduler.State.LeasedCount);
        Assert.Equal((2u, operation.CloneLease), SchedulerState.LeaseOf(operation, "fast"));
    }

    [Fact]
    public void The_clones_result_wins_and_the_originals_worker_is_told_to_stop()
    {
        var (scheduler, op) = Cloned();

        var outcome = scheduler.Ok(Complete(op, "fast", attempt: 2, at: 4_000)).Complete;

        Assert.Equal("slow", outcome.SupersededWorkerId);
        Assert.Equal("", outcome.SupersededCloneWorkerId);
        var done = scheduler.Operation(op);
        Assert.Equal(OperationPhase.Completed, done.Phase);
        Assert.Null(done.CloneLease);
        Assert.True(done.Attempts[0].Superseded);
        Assert.False(done.Attempts[1].Superseded);
        Assert.Equal(0, scheduler.State.UsageOf("slow")!.Slots);
        Assert.Equal(0, scheduler.State.UsageOf("fast")!.Slots);
        Assert.Null(SchedulerState.LeaseOf(done, "slow"));
    }

    [Fact]
    public void The_original_winning_names_the_clones_worker_to_stop()
    {
        var (scheduler, op) = Cloned();

        var outcome = scheduler.Ok(Complete(op, "slow", attempt: 1, at: 4_000)).Complete;

        Assert.Equal("", outcome.SupersededWorkerId);
        Assert.Equal("fast", outcome.SupersededCloneWorkerId);
        Assert.True(scheduler.Operation(op).Attempts[1].Superseded);
        Assert.Equal(0, scheduler.State.UsageOf("fast")!.Slots);
    }

    [Fact]
    public void An_original_that_fails_hands_the_operation_to_its_clone_instead_of_requeueing()
    {
        var (scheduler, op) = Cloned();

        var outcome = scheduler.Ok(Fail(op, "slow", 1, "worker error")).Fail;

        Assert.False(outcome.Requeued);
        var operation = scheduler.Operation(op);
        Assert.Equal(OperationPhase.Leased, operation.Phase);
        Assert.Equal("fast", operation.Lease.WorkerId);
        Assert.Equal(2u, operation.Attempt);
        Assert.Null(operation.CloneLease);
        Assert.Equal(0, scheduler.State.UsageOf("slow")!.Slots);
        Assert.Equal(1, scheduler.State.LeasedCount);
        scheduler.Ok(Complete(op, "fast", attempt: 2));
        Assert.Equal(OperationPhase.Completed, scheduler.Operation(op).Phase);
    }

    [Fact]
    public void A_clone_that_fails_ends_alone_and_the_same_attempt_is_not_cloned_again()
    {
        var (scheduler, op) = Cloned();

        scheduler.Ok(Fail(op, "fast", 2, "clone crashed"));

        var operation = scheduler.Operation(op);
        Assert.Equal("slow", operation.Lease.WorkerId);
        Assert.Null(operation.CloneLease);
        Assert.Equal("clone crashed", operation.Attempts[1].FailureReason);
        var again = Assert.Single(scheduler.Ok(Clone(5_000, op, "fast", 3)).AssignLeases.Grants);
        Assert.Equal(SchedulerResultCode.Stale, again.Code);
        Assert.Contains("cloned once already", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_worker_declared_dead_takes_only_its_own_role_with_it()
    {
        var (scheduler, op) = Cloned();

        scheduler.Ok(Dead("fast"));

        var operation = scheduler.Operation(op);
        Assert.Equal("slow", operation.Lease.WorkerId);
        Assert.Null(operation.CloneLease);
    }

    [Fact]
    public void Cancelling_ends_both_runs()
    {
        var (scheduler, op) = Cloned();

        scheduler.Ok(Cancel(op));

        var operation = scheduler.Operation(op);
        Assert.Equal(OperationPhase.Cancelled, operation.Phase);
        Assert.Null(operation.CloneLease);
        Assert.All(operation.Attempts, a => Assert.StartsWith("cancelled", a.FailureReason, StringComparison.Ordinal));
        Assert.Equal(0, scheduler.State.UsageOf("fast")!.Slots);
        Assert.Equal(0, scheduler.State.UsageOf("slow")!.Slots);
    }

    [Fact]
    public void A_clone_is_refused_where_it_cannot_help()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("a", slots: 1));
        scheduler.Ok(Register("b", slots: 1));
        scheduler.Ok(Register("c", slots: 1));
        var queued = scheduler.Submit(Submit("r1", action: "x"));
        var running = scheduler.Submit(Submit("r2", action: "y"));
        scheduler.Ok(Assign(1_000, (running, "a", 1)));
        var busy = scheduler.Submit(Submit("r3", action: "z"));
        scheduler.Ok(Assign(1_000, (busy, "b", 1)));
        scheduler.Ok(Quarantine("c", "sent a corrupt blob"));

        Assert.Equal(SchedulerResultCode.Stale, Assert.Single(scheduler.Ok(Clone(2_000, queued, "c", 1)).AssignLeases.Grants).Code);
        Assert.Equal(SchedulerResultCode.InvalidArgument, Assert.Single(scheduler.Ok(Clone(2_000, running, "a", 2)).AssignLeases.Grants).Code);
        Assert.Equal(SchedulerResultCode.Stale, Assert.Single(scheduler.Ok(Clone(2_000, running, "b", 2)).AssignLeases.Grants).Code);
        Assert.Equal(SchedulerResultCode.Stale, Assert.Single(scheduler.Ok(Clone(2_000, running, "c", 2)).AssignLeases.Grants).Code);
        Assert.Equal(SchedulerResultCode.Stale, Assert.Single(scheduler.Ok(Clone(2_000, running, "b", 5)).AssignLeases.Grants).Code);
        Assert.Null(scheduler.Operation(running).CloneLease);
    }

    [Fact]
    public void A_late_result_with_other_outputs_is_reported_as_non_determinism_with_both_digests()
    {
        var (scheduler, op) = Cloned();
        scheduler.Ok(CompleteWith(op, "fast", 2, Outputs(("out/a", "one"), ("out/b", "same")), at: 4_000));

        var late = scheduler.Ok(CompleteWith(op, "slow", 1, Outputs(("out/a", "two"), ("out/b", "same")), at: 5_000)).Complete;

        Assert.True(late.Late);
        Assert.True(late.Nondeterministic);
        var report = Assert.Single(scheduler.State.Nondeterminism);
        Assert.Equal(op, report.OperationName);
        Assert.Equal(("fast", 2u, "slow", 1u), (report.WinnerWorkerId, report.WinnerAttempt, report.OtherWorkerId, report.OtherAttempt));
        var difference = Assert.Single(report.Differences);
        Assert.Equal("out/a", difference.Path);
        Assert.Equal(RaftHead.Protocol.Digests.Compute("one"u8).Hash + "/3", difference.Winner);
        Assert.Equal(RaftHead.Protocol.Digests.Compute("two"u8).Hash + "/3", difference.Other);

        // The same report again (a retried call) is not counted twice.
        scheduler.Ok(CompleteWith(op, "slow", 1, Outputs(("out/a", "two")), at: 5_100));
        Assert.Single(scheduler.State.Nondeterminism);
        Assert.Equal(OperationPhase.Completed, scheduler.Operation(op).Phase);
    }

    [Fact]
    public void A_late_result_with_the_same_outputs_is_no_report_and_a_stranger_is_still_refused()
    {
        var (scheduler, op) = Cloned();
        scheduler.Ok(CompleteWith(op, "fast", 2, Outputs(("out/a", "one")), at: 4_000));

        var late = scheduler.Ok(CompleteWith(op, "slow", 1, Outputs(("out/a", "one")), at: 5_000)).Complete;

        Assert.True(late.Late);
        Assert.False(late.Nondeterministic);
        Assert.Empty(scheduler.State.Nondeterminism);
        Assert.Equal(SchedulerResultCode.AlreadyFinished, scheduler.Apply(CompleteWith(op, "fast", 1, Outputs(("out/a", "x")))).Code);
    }

    [Fact]
    public void A_verification_run_with_other_outputs_is_reported_naming_itself_and_one_with_the_same_is_not()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("a", slots: 1));
        scheduler.Ok(Register("b", slots: 1));
        var op = scheduler.Submit(Submit("r1"));
        scheduler.Ok(Assign(1_000, (op, "a", 1)));
        scheduler.Ok(CompleteWith(op, "a", 1, Outputs(("out", "first")), at: 2_000));

        var verify = Submit("verify/" + op, doNotCache: true, skipCacheLookup: true);
        verify.Submit.Verifies = op;
        var again = scheduler.Submit(verify);
        Assert.NotEqual(op, again);
        scheduler.Ok(Assign(2_100, (again, "b", 1)));
        var outcome = scheduler.Ok(CompleteWith(again, "b", 1, Outputs(("out", "second")), at: 3_000)).Complete;

        Assert.True(outcome.Nondeterministic);
        var report = Assert.Single(scheduler.State.Nondeterminism);
        Assert.Equal((op, again, "a", "b"), (report.OperationName, report.VerifiedBy, report.WinnerWorkerId, report.OtherWorkerId));
        Assert.Equal("out", Assert.Single(report.Differences).Path);
        // The verified result stays the cached one.
        Assert.Equal(Outputs(("out", "first")), scheduler.State.FindCachedResult("", scheduler.Operation(op).ActionDigest));

        var same = Submit("verify-2/" + op, doNotCache: true, skipCacheLookup: true);
        same.Submit.Verifies = op;
        var quiet = scheduler.Submit(same);
        scheduler.Ok(Assign(3_100, (quiet, "b", 1)));
        Assert.False(scheduler.Ok(CompleteWith(quiet, "b", 1, Outputs(("out", "first")), at: 4_000)).Complete.Nondeterministic);
        Assert.Single(scheduler.State.Nondeterminism);
    }

    [Fact]
    public void A_verification_run_that_could_be_cached_is_refused()
    {
        var scheduler = new Scheduler();
        var verify = Submit("verify/x");
        verify.Submit.Verifies = "operations/1";

        var refused = scheduler.Apply(verify);

        Assert.Equal(SchedulerResultCode.InvalidArgument, refused.Code);
        Assert.Contains("do_not_cache", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_quarantined_worker_loses_its_work_gets_no_new_leases_and_keeps_the_quarantine_through_a_restart()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("bad", slots: 2));
        scheduler.Ok(Register("good", slots: 2));
        var op = scheduler.Submit(Submit("r1"));
        scheduler.Ok(Assign(1_000, (op, "bad", 1)));

        scheduler.Ok(Quarantine("bad", "sent a corrupt blob to good", at: 2_000));

        var requeued = scheduler.Operation(op);
        Assert.Equal(OperationPhase.Queued, requeued.Phase);
        Assert.Contains("quarantined: sent a corrupt blob to good", requeued.Attempts[0].FailureReason, StringComparison.Ordinal);
        Assert.Equal("sent a corrupt blob to good", scheduler.State.FindWorker("bad")!.QuarantineReason);
        Assert.Equal(SchedulerResultCode.Stale, Assert.Single(scheduler.Ok(Assign(3_000, (op, "bad", 2))).AssignLeases.Grants).Code);
        Assert.All(Placement.Plan(scheduler.State, 3_000, leaseTtlMs: 60_000, grantsMax: 10), g => Assert.Equal("good", g.WorkerId));

        scheduler.Ok(Register("bad", slots: 4));
        Assert.Equal("sent a corrupt blob to good", scheduler.State.FindWorker("bad")!.QuarantineReason);

        scheduler.Ok(Release("bad"));
        Assert.Equal("", scheduler.State.FindWorker("bad")!.QuarantineReason);
        Assert.Equal(SchedulerResultCode.Ok, Assert.Single(scheduler.Ok(Assign(3_000, (op, "bad", 2))).AssignLeases.Grants).Code);
    }

    [Fact]
    public void Quarantine_and_release_refuse_unknown_workers_and_an_empty_reason()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w"));

        Assert.Equal(SchedulerResultCode.NotFound, scheduler.Apply(Quarantine("nobody")).Code);
        Assert.Equal(SchedulerResultCode.NotFound, scheduler.Apply(Release("nobody")).Code);
        Assert.Equal(SchedulerResultCode.InvalidArgument, scheduler.Apply(Quarantine("w", reason: "")).Code);
        var old = new SchedulerCommand { Version = 3, QuarantineWorker = new QuarantineWorker { WorkerId = "w", Reason = "r" } };
        Assert.Equal(SchedulerResultCode.UnsupportedVersion, scheduler.Apply(old).Code);
    }

    [Fact]
    public void A_snapshot_taken_while_a_clone_runs_restores_the_same_and_goes_on_the_same()
    {
        var (scheduler, op) = Cloned();
        scheduler.Ok(Quarantine("slow", "bad blobs"));
        var restored = new SchedulerStateMachine();
        restored.Restore(scheduler.Machine.Snapshot());

        Assert.Equal(scheduler.Machine.Snapshot(), restored.Snapshot());
        Assert.Null(SchedulerInvariants.Check(restored.Current, restored.Limits));
        Assert.Equal("fast", restored.Current.FindOperation(op)!.Lease.WorkerId);
    }
}
