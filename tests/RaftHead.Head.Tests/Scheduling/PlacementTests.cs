using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

public sealed class PlacementTests
{
    private static List<LeaseGrant> Plan(Scheduler scheduler, long now = 1_000, int max = 100, Func<OperationState, string, long>? locality = null) =>
        Placement.Plan(scheduler.State, now, leaseTtlMs: 30_000, max, locality);

    /// <summary>Places one operation at a time on a one-slot worker and completes it: the order the scheduler serves.</summary>
    private static List<string> ServeOneByOne(Scheduler scheduler)
    {
        var order = new List<string>();
        while (true)
        {
            var grant = Plan(scheduler, max: 1).SingleOrDefault();
            if (grant is null)
            {
                return order;
            }

            Assert.Equal(SchedulerResultCode.Ok, Assert.Single(scheduler.Ok(Assign(1_000, [grant])).AssignLeases.Grants).Code);
            scheduler.Ok(Complete(grant.OperationName, grant.WorkerId, exitCode: 1));
            order.Add(grant.OperationName);
        }
    }

    [Fact]
    public void Lower_priority_values_run_first()
    {
        var scheduler = new Scheduler();
        var low = scheduler.Submit(Submit("r1", action: "low", priority: 5));
        var high = scheduler.Submit(Submit("r2", action: "high", priority: -5));
        var normal = scheduler.Submit(Submit("r3", action: "normal"));
        scheduler.Ok(Register("w", slots: 1));

        Assert.Equal([high, normal, low], ServeOneByOne(scheduler));
    }

    [Fact]
    public void Invocations_take_turns_within_a_priority()
    {
        var scheduler = new Scheduler();
        var a = Enumerable.Range(1, 4).Select(i => scheduler.Submit(Submit($"a{i}", action: $"a{i}", invocation: "A"))).ToList();
        var b = Enumerable.Range(1, 2).Select(i => scheduler.Submit(Submit($"b{i}", action: $"b{i}", invocation: "B"))).ToList();
        var c = scheduler.Submit(Submit("c1", action: "c1", invocation: "C"));
        scheduler.Ok(Register("w", slots: 1));

        Assert.Equal([a[0], b[0], c, a[1], b[1], a[2], a[3]], ServeOneByOne(scheduler));
    }

    [Fact]
    public void One_plan_interleaves_invocations_and_never_overcommits()
    {
        var scheduler = new Scheduler();
        for (var i = 0; i < 6; i++)
        {
            scheduler.Submit(Submit($"a{i}", action: $"a{i}", invocation: "A"));
        }

        var b = scheduler.Submit(Submit("b", action: "b", invocation: "B"));
        scheduler.Ok(Register("w1", slots: 2));
        scheduler.Ok(Register("w2", slots: 1));

        var grants = Plan(scheduler);

        Assert.Equal(3, grants.Count);
        Assert.Equal(b, grants[1].OperationName);
        Assert.All(scheduler.Ok(Assign(1_000, grants)).AssignLeases.Grants, g => Assert.Equal(SchedulerResultCode.Ok, g.Code));
        Assert.Empty(Plan(scheduler));
    }

    [Fact]
    public void Operations_wait_for_a_worker_of_their_platform()
    {
        var scheduler = new Scheduler();
        var mac = scheduler.Submit(Submit("r1", action: "m", platform: Platform("os=mac")));
        var linux = scheduler.Submit(Submit("r2", action: "l", platform: Platform("os=Linux")));
        scheduler.Ok(Register("linux", platform: Platform("os=linux")));

        var grant = Assert.Single(Plan(scheduler));
        Assert.Equal((linux, "linux"), (grant.OperationName, grant.WorkerId));

        scheduler.Ok(Register("mac", platform: Platform("os=mac")));
        scheduler.Ok(Assign(1_000, [grant]));
        Assert.Equal(mac, Assert.Single(Plan(scheduler)).OperationName);
    }

    [Fact]
    public void An_operation_backing_off_is_passed_over_until_its_time()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 1));
        var op = scheduler.Submit(Submit("r1"));
        scheduler.Ok(Assign(1_000, (op, "w", 1)));
        scheduler.Ok(Fail(op, "w", 1, "flaky", notBefore: 5_000));

        Assert.Empty(Plan(scheduler, now: 4_999));
        var grant = Assert.Single(Plan(scheduler, now: 5_000));
        Assert.Equal(2u, grant.Attempt);
    }

    [Fact]
    public void An_operation_that_fits_nowhere_does_not_block_those_behind_it()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 4));
        var gpu = scheduler.Submit(Submit("r1", action: "g", gpuMillis: 1_000));
        var plain = scheduler.Submit(Submit("r2", action: "p"));

        Assert.Equal(plain, Assert.Single(Plan(scheduler)).OperationName);
        Assert.Equal(OperationPhase.Queued, scheduler.Operation(gpu).Phase);
    }

    [Fact]
    public void Placement_prefers_locality_then_gpu_free_workers_then_free_slots()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("a-gpu", slots: 8, gpus: 1));
        scheduler.Ok(Register("b-busy", slots: 2));
        scheduler.Ok(Register("c-idle", slots: 4));
        var op = scheduler.Submit(Submit("r1"));

        Assert.Equal("c-idle", Assert.Single(Plan(scheduler)).WorkerId);
        Assert.Equal("b-busy", Assert.Single(Plan(scheduler, locality: (_, worker) => worker == "b-busy" ? 1_000 : 0)).WorkerId);

        var gpuOp = scheduler.Submit(Submit("r2", action: "g", gpuMillis: 500));
        var grants = Plan(scheduler);
        Assert.Equal("a-gpu", grants.Single(g => g.OperationName == gpuOp).WorkerId);
        Assert.Equal("c-idle", grants.Single(g => g.OperationName == op).WorkerId);
    }

    [Fact]
    public void Retiring_workers_get_no_new_work()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 2));
        var first = scheduler.Submit(Submit("r1", action: "a"));
        scheduler.Ok(Assign(1_000, (first, "w", 1)));
        scheduler.Ok(Retire("w"));
        scheduler.Submit(Submit("r2", action: "b"));

        Assert.Empty(Plan(scheduler));
    }

    [Fact]
    public void The_plan_stops_at_its_bound()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 16));
        for (var i = 0; i < 10; i++)
        {
            scheduler.Submit(Submit($"r{i}", action: $"a{i}"));
        }

        Assert.Equal(3, Plan(scheduler, max: 3).Count);
        Assert.Empty(Plan(scheduler, max: 0));
    }

    [Fact]
    public void The_shortcut_without_hints_chooses_exactly_what_the_full_scan_chooses()
    {
        // Hints that are all zero score every worker equally on locality, which forces the full scan.
        for (var seed = 0; seed < 20; seed++)
        {
            var stream = new RandomCommandStream(seed);
            var scheduler = new Scheduler(new SchedulerLimits { UnfinishedOperationsMax = 40 });
            for (var step = 0; step < 300; step++)
            {
                scheduler.Apply(stream.Next(scheduler.State));
                var fast = Placement.Plan(scheduler.State, 50_000, 1_000, 50);
                var full = Placement.Plan(scheduler.State, 50_000, 1_000, 50, (_, _) => 0);
                Assert.True(fast.SequenceEqual(full), $"seed {seed}, step {step}: the plans differ");
            }
        }
    }

    [Fact]
    public void A_plan_with_the_cache_of_earlier_plans_chooses_exactly_what_a_fresh_plan_chooses()
    {
        // The random stream registers, retires and kills workers of several platforms and GPU counts between plans.
        for (var seed = 0; seed < 20; seed++)
        {
            var stream = new RandomCommandStream(seed);
            var scheduler = new Scheduler(new SchedulerLimits { UnfinishedOperationsMax = 40 });
            var cache = new PlacementCache();
            for (var step = 0; step < 300; step++)
            {
                scheduler.Apply(stream.Next(scheduler.State));
                var cached = Placement.Plan(scheduler.State, 50_000, 1_000, 50, cache: cache);
                var fresh = Placement.Plan(scheduler.State, 50_000, 1_000, 50);
                Assert.True(cached.SequenceEqual(fresh), $"seed {seed}, step {step}: the plans differ");
            }
        }
    }
}
