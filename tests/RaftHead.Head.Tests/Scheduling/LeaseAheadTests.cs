using Google.Protobuf;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>A worker that declares lease_ahead holds that many leases beyond its slots; nothing else is relaxed.</summary>
public sealed class LeaseAheadTests
{
    private static List<LeaseGrant> Plan(Scheduler scheduler, long now = 1_000) => Placement.Plan(scheduler.State, now, leaseTtlMs: 30_000, grantsMax: 100);

    private static List<string> SubmitMany(Scheduler scheduler, int count, uint cpuMillis = 0, ulong memoryBytes = 0, uint gpuMillis = 0, string prefix = "") =>
        Enumerable.Range(0, count)
            .Select(i => scheduler.Submit(Submit($"r{prefix}{i}", action: $"a{prefix}{i}", invocation: $"inv{i % 3}", cpuMillis: cpuMillis, memoryBytes: memoryBytes, gpuMillis: gpuMillis)))
            .ToList();

    /// <summary>Assigns the plan; every grant must be accepted.</summary>
    private static void AssignAll(Scheduler scheduler, List<LeaseGrant> grants) =>
        Assert.All(scheduler.Ok(Assign(1_000, grants)).AssignLeases.Grants, g => Assert.Equal(SchedulerResultCode.Ok, g.Code));

    [Fact]
    public void A_worker_with_lease_ahead_is_granted_its_slots_plus_that_many_and_no_more()
    {
        var scheduler = new Scheduler();
        var operations = SubmitMany(scheduler, 8);
        scheduler.Ok(Register("w", slots: 2, leaseAhead: 3));

        var grants = Plan(scheduler);

        Assert.Equal(5, grants.Count);
        Assert.All(grants, g => Assert.Equal("w", g.WorkerId));
        AssignAll(scheduler, grants);
        Assert.Equal(5, scheduler.State.UsageOf("w")!.Slots);
        Assert.Empty(Plan(scheduler));

        // The apply refuses a sixth however it is proposed.
        var spare = operations.First(o => scheduler.Operation(o).Phase == OperationPhase.Queued);
        var refused = Assert.Single(scheduler.Ok(Assign(1_000, (spare, "w", 1))).AssignLeases.Grants);
        Assert.Equal(SchedulerResultCode.Stale, refused.Code);
        Assert.Contains("no room", refused.Message, StringComparison.Ordinal);

        // One lease ending frees one place, whichever lease it was.
        var first = grants[0].OperationName;
        scheduler.Ok(Complete(first, "w"));
        Assert.Single(Plan(scheduler));
    }

    [Fact]
    public void A_worker_without_lease_ahead_holds_one_lease_per_slot_as_before()
    {
        var scheduler = new Scheduler();
        SubmitMany(scheduler, 5);
        scheduler.Ok(Register("w", slots: 2));

        Assert.Equal(0u, scheduler.State.FindWorker("w")!.LeaseAhead);
        var grants = Plan(scheduler);
        Assert.Equal(2, grants.Count);
        AssignAll(scheduler, grants);
        Assert.Empty(Plan(scheduler));
    }

    [Fact]
    public void Lease_ahead_never_goes_past_the_workers_cpu()
    {
        var scheduler = new Scheduler();
        SubmitMany(scheduler, 6, cpuMillis: 1_500);
        scheduler.Ok(Register("w", slots: 2, cpuMillis: 4_000, leaseAhead: 4));

        // Six places by count, but 4,000 CPU millis hold two 1,500 ones.
        var grants = Plan(scheduler);
        Assert.Equal(2, grants.Count);
        AssignAll(scheduler, grants);
        Assert.Equal(3_000, scheduler.State.UsageOf("w")!.CpuMillis);
        Assert.Empty(Plan(scheduler));
    }

    [Fact]
    public void Lease_ahead_never_goes_past_the_workers_memory()
    {
        var scheduler = new Scheduler();
        SubmitMany(scheduler, 6, memoryBytes: 3UL << 30);
        scheduler.Ok(Register("w", slots: 1, memoryBytes: 8UL << 30, leaseAhead: 5));

        // One slot and 8 GiB: one running and one ahead fit (6 GiB); a third would need 9.
        var grants = Plan(scheduler);
        Assert.Equal(2, grants.Count);
        AssignAll(scheduler, grants);
        Assert.Empty(Plan(scheduler));
    }

    [Fact]
    public void Lease_ahead_never_goes_past_the_workers_gpus()
    {
        var scheduler = new Scheduler();
        var whole = SubmitMany(scheduler, 3, gpuMillis: 1_000);
        scheduler.Ok(Register("w", slots: 1, gpus: 1, leaseAhead: 3));

        var grants = Plan(scheduler);
        var granted = Assert.Single(grants);
        AssignAll(scheduler, grants);
        Assert.Empty(Plan(scheduler));

        var other = whole.First(o => o != granted.OperationName);
        var refused = Assert.Single(scheduler.Ok(Assign(1_000, (other, "w", 1))).AssignLeases.Grants);
        Assert.Equal(SchedulerResultCode.Stale, refused.Code);
    }

    [Fact]
    public void An_idle_slot_anywhere_wins_over_a_place_in_a_queue()
    {
        // "deep" has more room by count, but only one slot: work queued there would wait while "wide" sits idle.
        var scheduler = new Scheduler();
        SubmitMany(scheduler, 3);
        scheduler.Ok(Register("deep", slots: 1, leaseAhead: 4));
        scheduler.Ok(Register("wide", slots: 2));

        var grants = Plan(scheduler);

        Assert.Equal(3, grants.Count);
        Assert.Equal(2, grants.Count(g => g.WorkerId == "wide"));
        Assert.Equal(1, grants.Count(g => g.WorkerId == "deep"));

        // Once every slot is taken, the queue places go to whoever has them.
        AssignAll(scheduler, grants);
        SubmitMany(scheduler, 3, prefix: "more");
        var queued = Plan(scheduler);
        Assert.Equal(3, queued.Count);
        Assert.All(queued, g => Assert.Equal("deep", g.WorkerId));
    }

    [Fact]
    public void A_worker_holding_leases_ahead_may_not_register_with_less_room_for_them()
    {
        var scheduler = new Scheduler();
        SubmitMany(scheduler, 4);
        scheduler.Ok(Register("w", slots: 2, leaseAhead: 2));
        AssignAll(scheduler, Plan(scheduler));

        Assert.Contains("4 slots in use", scheduler.Refused(Register("w", slots: 2, leaseAhead: 1), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        Assert.Contains("4 slots in use", scheduler.Refused(Register("w", slots: 2), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        // The same room in another split is fine: four leases still fit.
        scheduler.Ok(Register("w", slots: 3, leaseAhead: 1));
        Assert.Equal(1u, scheduler.State.FindWorker("w")!.LeaseAhead);
    }

    [Fact]
    public void Leases_held_ahead_survive_a_snapshot_round_trip_exactly()
    {
        var scheduler = new Scheduler();
        SubmitMany(scheduler, 6);
        scheduler.Ok(Register("w", slots: 1, leaseAhead: 2));
        scheduler.Ok(Register("v", slots: 1));
        AssignAll(scheduler, Plan(scheduler));
        var bytes = scheduler.Machine.Snapshot();

        var copy = new SchedulerStateMachine();
        copy.Restore(bytes);

        Assert.Equal(bytes, copy.Snapshot());
        Assert.Null(SchedulerInvariants.Check(copy.Current, copy.Limits));
        Assert.Equal(2u, copy.Current.FindWorker("w")!.LeaseAhead);
        Assert.Equal(3, copy.Current.UsageOf("w")!.Slots);
        // The restored replica plans as the original does: both full.
        Assert.Empty(Placement.Plan(copy.Current, 1_000, 30_000, 100));
    }

    [Fact]
    public void The_invariants_catch_a_worker_holding_more_than_its_slots_and_lease_ahead()
    {
        var scheduler = new Scheduler();
        SubmitMany(scheduler, 3);
        scheduler.Ok(Register("w", slots: 1, leaseAhead: 2));
        AssignAll(scheduler, Plan(scheduler));
        // A snapshot whose worker lost a place ahead but kept its three leases: no command can make this state.
        var snapshot = SchedulerSnapshot.Parser.ParseFrom(scheduler.Machine.Snapshot());
        snapshot.Workers.Single(w => w.WorkerId == "w").LeaseAhead = 1;

        var violation = SchedulerInvariants.Check(SchedulerSnapshotCodec.Decode(snapshot.ToByteArray()), scheduler.Machine.Limits);

        Assert.NotNull(violation);
        Assert.Contains("over-committed: 3/1+1 leases", violation, StringComparison.Ordinal);
    }
}
