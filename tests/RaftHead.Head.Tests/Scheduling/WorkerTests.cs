using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

public sealed class WorkerTests
{
    [Fact]
    public void Registering_again_with_the_same_capacity_changes_nothing()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 4, at: 1));
        var version = scheduler.State.Version;
        scheduler.Ok(Register("w", slots: 4, at: 2));
        Assert.Equal(version, scheduler.State.Version);

        scheduler.Ok(Register("w", slots: 8, gpus: 2));
        Assert.Equal(8u, scheduler.State.FindWorker("w")!.Slots);
        Assert.Equal(2, scheduler.State.UsageOf("w")!.GpuMillisByDevice.Length);
    }

    [Fact]
    public void A_worker_cannot_shrink_below_what_its_leases_hold()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 2, gpus: 2));
        var a = scheduler.Submit(Submit("r1", action: "a", gpuMillis: 2_000));
        var b = scheduler.Submit(Submit("r2", action: "b"));
        scheduler.Ok(Assign(1_000, (a, "w", 1), (b, "w", 1)));

        Assert.Contains("2 slots in use", scheduler.Refused(Register("w", slots: 1, gpus: 2), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        Assert.Contains("GPU device 1", scheduler.Refused(Register("w", slots: 2, gpus: 1), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);

        scheduler.Ok(Register("w", slots: 3, gpus: 3));
        Assert.Equal([1_000u, 1_000u, 0u], scheduler.State.UsageOf("w")!.GpuMillisByDevice.ToArray());
    }

    public static TheoryData<string, Action<RegisterWorker>, string> InvalidRegistrations => new()
    {
        { "empty id", r => r.WorkerId = "", "worker_id is empty" },
        { "long id", r => r.WorkerId = new string('w', 300), "worker_id is 300" },
        { "no slots", r => r.Slots = 0, "slots must be at least 1" },
        { "too many slots", r => r.Slots = 1_025, "slots 1025 is above" },
        { "too many leases ahead", r => (r.Slots, r.LeaseAhead) = (1_000, 25), "slots 1000 plus lease_ahead 25 is above the maximum of 1024" },
        { "lease_ahead past uint", r => r.LeaseAhead = uint.MaxValue, "plus lease_ahead 4294967295 is above" },
        { "too many gpus", r => r.Gpus = 65, "gpus 65 is above" },
        { "nameless property", r => r.Platform = Platform("=x"), "a property has no name" },
        { "absurd cpu", r => r.CpuMillis = 2_000_000, "cpu_millis 2000000 is above" },
        { "absurd memory", r => r.MemoryBytes = ulong.MaxValue, "memory_bytes" },
    };

    [Theory]
    [MemberData(nameof(InvalidRegistrations))]
    public void Invalid_registrations_are_refused(string _, Action<RegisterWorker> spoil, string expected)
    {
        var scheduler = new Scheduler();
        var command = Register("w");
        spoil(command.RegisterWorker);
        Assert.Contains(expected, scheduler.Refused(command, SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        Assert.Empty(scheduler.State.Workers);
    }

    [Fact]
    public void An_idle_worker_retires_at_once_a_busy_one_when_its_last_lease_ends()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("idle"));
        scheduler.Ok(Register("busy"));
        var op = scheduler.Submit(Submit("r1"));
        scheduler.Ok(Assign(1_000, (op, "busy", 1)));

        Assert.True(scheduler.Ok(Retire("idle")).RetireWorker.Removed);
        Assert.False(scheduler.Ok(Retire("busy")).RetireWorker.Removed);
        Assert.True(scheduler.State.FindWorker("busy")!.Retiring);
        Assert.Null(scheduler.State.FindWorker("idle"));

        scheduler.Ok(Complete(op, "busy"));
        Assert.Null(scheduler.State.FindWorker("busy"));
        Assert.Empty(scheduler.State.Usage);
    }

    [Fact]
    public void Retiring_an_unknown_or_unnamed_worker_is_refused()
    {
        var scheduler = new Scheduler();
        scheduler.Refused(Retire("ghost"), SchedulerResultCode.NotFound);
        scheduler.Refused(Retire(""), SchedulerResultCode.InvalidArgument);
    }

    [Fact]
    public void A_dead_worker_leaves_and_its_leases_requeue_with_the_next_attempt_after_the_backoff()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 2));
        var a = scheduler.Submit(Submit("r1", action: "a"));
        var b = scheduler.Submit(Submit("r2", action: "b"));
        scheduler.Ok(Assign(1_000, (a, "w", 1), (b, "w", 1)));

        var outcome = scheduler.Ok(Dead("w", "silent for 10 s", at: 3_000, notBefore: 4_000)).DeclareWorkerDead;

        Assert.Equal([a, b], outcome.Requeued);
        Assert.Empty(outcome.DeadLettered);
        Assert.Null(scheduler.State.FindWorker("w"));
        var requeued = scheduler.Operation(a);
        Assert.Equal(OperationPhase.Queued, requeued.Phase);
        Assert.Equal(2u, requeued.Attempt);
        Assert.Equal(4_000, requeued.NotBeforeUnixMs);
        Assert.Equal("worker w declared dead: silent for 10 s", requeued.Attempts[0].FailureReason);
        Assert.Equal(2, scheduler.State.QueuedCount);
    }

    [Fact]
    public void A_dead_worker_dead_letters_what_has_spent_its_retry_budget()
    {
        var scheduler = new Scheduler(new SchedulerLimits { AttemptsMax = 1 });
        scheduler.Ok(Register("w"));
        var op = scheduler.Submit(Submit("r1"));
        scheduler.Ok(Assign(1_000, (op, "w", 1)));

        var outcome = scheduler.Ok(Dead("w")).DeclareWorkerDead;

        Assert.Equal([op], outcome.DeadLettered);
        Assert.Equal(OperationPhase.DeadLettered, scheduler.Operation(op).Phase);
    }

    [Fact]
    public void Declaring_dead_an_unknown_worker_or_without_a_reason_is_refused()
    {
        var scheduler = new Scheduler();
        scheduler.Refused(Dead("ghost"), SchedulerResultCode.NotFound);
        scheduler.Ok(Register("w"));
        Assert.Contains("reason is empty", scheduler.Refused(Dead("w", reason: ""), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        scheduler.Refused(Dead(""), SchedulerResultCode.InvalidArgument);
    }
}
