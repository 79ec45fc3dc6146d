using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

public sealed class LeaseTests
{
    private static GrantOutcome Grant(Scheduler scheduler, long at, string operation, string worker, uint attempt = 1) =>
        Assert.Single(scheduler.Ok(Assign(at, (operation, worker, attempt))).AssignLeases.Grants);

    [Fact]
    public void A_grant_leases_the_operation_and_takes_a_slot()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 2));
        var op = scheduler.Submit(Submit("r1"));

        var grant = Grant(scheduler, 1_500, op, "w");

        Assert.Equal(SchedulerResultCode.Ok, grant.Code);
        var leased = scheduler.Operation(op);
        Assert.Equal(OperationPhase.Leased, leased.Phase);
        Assert.Equal("w", leased.Lease.WorkerId);
        Assert.Equal(61_500, leased.Lease.ExpiresAtUnixMs);
        Assert.Equal(1_500, Assert.Single(leased.Attempts).LeasedAtUnixMs);
        Assert.Equal(1, scheduler.State.UsageOf("w")!.Slots);
        Assert.Equal(0, scheduler.State.QueuedCount);
        Assert.Equal(1, scheduler.State.LeasedCount);
    }

    [Fact]
    public void Grants_beyond_a_workers_slots_are_stale_and_the_rest_of_the_batch_applies()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 1));
        scheduler.Ok(Register("v", slots: 1));
        var a = scheduler.Submit(Submit("r1", action: "a"));
        var b = scheduler.Submit(Submit("r2", action: "b"));
        var c = scheduler.Submit(Submit("r3", action: "c"));

        var grants = scheduler.Ok(Assign(1_000, (a, "w", 1), (b, "w", 1), (c, "v", 1))).AssignLeases.Grants;

        Assert.Equal([SchedulerResultCode.Ok, SchedulerResultCode.Stale, SchedulerResultCode.Ok], grants.Select(g => g.Code));
        Assert.Contains("no room", grants[1].Message, StringComparison.Ordinal);
        Assert.Equal(OperationPhase.Queued, scheduler.Operation(b).Phase);
    }

    [Fact]
    public void Cpu_and_memory_are_accounted_when_the_worker_declares_them()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 8, cpuMillis: 4_000, memoryBytes: 1_000));
        var a = scheduler.Submit(Submit("r1", action: "a", cpuMillis: 3_000));
        var b = scheduler.Submit(Submit("r2", action: "b", cpuMillis: 2_000));
        var c = scheduler.Submit(Submit("r3", action: "c", memoryBytes: 800));
        var d = scheduler.Submit(Submit("r4", action: "d", memoryBytes: 300));

        var grants = scheduler.Ok(Assign(1_000, (a, "w", 1), (b, "w", 1), (c, "w", 1), (d, "w", 1))).AssignLeases.Grants;

        Assert.Equal([SchedulerResultCode.Ok, SchedulerResultCode.Stale, SchedulerResultCode.Ok, SchedulerResultCode.Stale], grants.Select(g => g.Code));
    }

    [Fact]
    public void Gpu_shares_pack_onto_one_device_and_whole_devices_are_never_shared()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 8, gpus: 2));
        var half1 = scheduler.Submit(Submit("r1", action: "h1", gpuMillis: 500));
        var half2 = scheduler.Submit(Submit("r2", action: "h2", gpuMillis: 500));
        var whole = scheduler.Submit(Submit("r3", action: "w1", gpuMillis: 1_000));
        var another = scheduler.Submit(Submit("r4", action: "w2", gpuMillis: 1_000));
        var share = scheduler.Submit(Submit("r5", action: "s", gpuMillis: 300));

        var grants = scheduler.Ok(Assign(1_000, (half1, "w", 1), (half2, "w", 1), (whole, "w", 1), (another, "w", 1), (share, "w", 1))).AssignLeases.Grants;

        Assert.Equal([0u], grants[0].GpuDevices);
        Assert.Equal([0u], grants[1].GpuDevices);
        Assert.Equal([1u], grants[2].GpuDevices);
        Assert.Equal(SchedulerResultCode.Stale, grants[3].Code);
        Assert.Equal(SchedulerResultCode.Stale, grants[4].Code);
        Assert.Equal([1_000u, 1_000u], scheduler.State.UsageOf("w")!.GpuMillisByDevice.ToArray());

        // Releasing a share frees exactly that share.
        scheduler.Ok(Complete(half1, "w"));
        Assert.Equal(SchedulerResultCode.Ok, Grant(scheduler, 2_000, share, "w").Code);
        Assert.Equal([800u, 1_000u], scheduler.State.UsageOf("w")!.GpuMillisByDevice.ToArray());
    }

    [Fact]
    public void A_gpu_request_never_fits_a_worker_without_gpus()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 8));
        var op = scheduler.Submit(Submit("r1", gpuMillis: 100));
        Assert.Equal(SchedulerResultCode.Stale, Grant(scheduler, 1_000, op, "w").Code);
    }

    [Fact]
    public void Stale_grants_are_refused_and_change_nothing()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 4));
        scheduler.Ok(Register("retiring", slots: 4));
        var leased = scheduler.Submit(Submit("r1", action: "a"));
        Grant(scheduler, 1_000, leased, "w");
        var busy = scheduler.Submit(Submit("r2", action: "busy"));
        Grant(scheduler, 1_000, busy, "retiring");
        scheduler.Ok(Retire("retiring"));
        var backingOff = scheduler.Submit(Submit("r3", action: "b"));
        Grant(scheduler, 1_000, backingOff, "w");
        scheduler.Ok(Fail(backingOff, "w", 1, "worker error", notBefore: 10_000));
        var queued = scheduler.Submit(Submit("r4", action: "c"));
        var done = scheduler.Submit(Submit("r5", action: "d"));
        scheduler.Ok(Cancel(done));
        var version = scheduler.State.Version;

        var grants = scheduler.Ok(Assign(2_000, (leased, "w", 1), (backingOff, "w", 1), (backingOff, "w", 2), (queued, "retiring", 1), (done, "w", 1),
            ("operations/999", "w", 1), (queued, "nobody", 1))).AssignLeases.Grants;

        Assert.Equal(
            [SchedulerResultCode.Stale, SchedulerResultCode.Stale, SchedulerResultCode.Stale, SchedulerResultCode.Stale, SchedulerResultCode.AlreadyFinished, SchedulerResultCode.NotFound, SchedulerResultCode.NotFound],
            grants.Select(g => g.Code));
        Assert.Contains("already leased", grants[0].Message, StringComparison.Ordinal);
        Assert.Contains("attempt 2, not 1", grants[1].Message, StringComparison.Ordinal);
        Assert.Contains("backs off until 10000", grants[2].Message, StringComparison.Ordinal);
        Assert.Contains("retiring", grants[3].Message, StringComparison.Ordinal);
        Assert.Equal(version, scheduler.State.Version);

        // Once the backoff has passed, the same grant applies.
        Assert.Equal(SchedulerResultCode.Ok, Grant(scheduler, 10_000, backingOff, "w", attempt: 2).Code);
    }

    [Fact]
    public void Invalid_grants_are_refused_naming_the_problem()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", platform: Platform("os=linux")));
        var mac = scheduler.Submit(Submit("r1", platform: Platform("os=mac")));
        var plain = scheduler.Submit(Submit("r2", action: "b"));

        var badExpiry = Assign(1_000, (plain, "w", 1));
        badExpiry.AssignLeases.Grants[0].ExpiresAtUnixMs = 1_000;
        var grants = scheduler.Ok(Assign(1_000, (mac, "w", 1), ("", "w", 1), (plain, "", 1))).AssignLeases.Grants;
        var expiry = Assert.Single(scheduler.Ok(badExpiry).AssignLeases.Grants);

        Assert.All(grants, g => Assert.Equal(SchedulerResultCode.InvalidArgument, g.Code));
        Assert.Contains("platform", grants[0].Message, StringComparison.Ordinal);
        Assert.Contains("operation_name is empty", grants[1].Message, StringComparison.Ordinal);
        Assert.Contains("worker_id is empty", grants[2].Message, StringComparison.Ordinal);
        Assert.Equal(SchedulerResultCode.InvalidArgument, expiry.Code);
        Assert.Contains("expires_at", expiry.Message, StringComparison.Ordinal);
        Assert.Equal(2, scheduler.State.QueuedCount);

        Assert.Contains("no grants", scheduler.Refused(Assign(1_000), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
    }

    [Fact]
    public void Platform_values_match_ignoring_case_and_every_property_must_be_offered()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", platform: Platform("OSFamily=linux", "arch=x86_64", "arch=amd64")));
        var linux = scheduler.Submit(Submit("r1", action: "a", platform: Platform("OSFamily=Linux", "arch=AMD64")));
        var gpu = scheduler.Submit(Submit("r2", action: "b", platform: Platform("OSFamily=linux", "gpu=a100")));

        var grants = scheduler.Ok(Assign(1_000, (linux, "w", 1), (gpu, "w", 1))).AssignLeases.Grants;

        Assert.Equal([SchedulerResultCode.Ok, SchedulerResultCode.InvalidArgument], grants.Select(g => g.Code));
    }

    [Fact]
    public void Expired_leases_are_listed_for_the_leader_at_its_clock()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w"));
        var op = scheduler.Submit(Submit("r1"));
        Grant(scheduler, 1_000, op, "w");

        Assert.Empty(scheduler.State.ExpiredLeases(60_999));
        Assert.Equal(op, Assert.Single(scheduler.State.ExpiredLeases(61_000)).Operation.Name);
    }
}
