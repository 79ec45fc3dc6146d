using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>A build as the leader drives it: plans, worker reports, a worker lost mid-build, and the rebuild.</summary>
public sealed class LifecycleTests
{
    [Fact]
    public void A_build_survives_a_dead_worker_and_its_rebuild_is_all_cache_hits()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w1", slots: 2));
        scheduler.Ok(Register("w2", slots: 2));
        var actions = Enumerable.Range(0, 6).Select(i => "step" + i).ToList();
        var operations = actions.Select((a, i) => scheduler.Submit(Submit("build1-" + a, action: a, invocation: i % 2 == 0 ? "alice" : "bob"))).ToList();

        long now = 2_000;
        var first = Placement.Plan(scheduler.State, now, leaseTtlMs: 10_000, grantsMax: 100);
        Assert.Equal(4, first.Count);
        scheduler.Ok(Assign(now, first));

        // w1 falls silent: its two operations go back with attempt 2 after a backoff.
        now = 3_000;
        var lost = scheduler.Ok(Dead("w1", at: now, notBefore: now + 500)).DeclareWorkerDead.Requeued;
        Assert.Equal(2, lost.Count);
        foreach (var grant in first.Where(g => g.WorkerId == "w2"))
        {
            scheduler.Ok(Complete(grant.OperationName, "w2", at: now));
        }

        // Before the backoff ends only never-run work is placed; after it, the requeued work too.
        var early = Placement.Plan(scheduler.State, now, 10_000, 100);
        Assert.DoesNotContain(early, g => lost.Contains(g.OperationName));
        scheduler.Ok(Assign(now, early));
        foreach (var grant in early)
        {
            scheduler.Ok(Complete(grant.OperationName, grant.WorkerId, at: now));
        }

        now = 3_500;
        var retry = Placement.Plan(scheduler.State, now, 10_000, 100);
        Assert.Equal(lost.Order(StringComparer.Ordinal), retry.Select(g => g.OperationName).Order(StringComparer.Ordinal));
        Assert.All(retry, g => Assert.Equal(2u, g.Attempt));
        scheduler.Ok(Assign(now, retry));
        foreach (var grant in retry)
        {
            scheduler.Ok(Complete(grant.OperationName, grant.WorkerId, attempt: 2, at: now));
        }

        Assert.All(operations, name => Assert.Equal(OperationPhase.Completed, scheduler.Operation(name).Phase));
        Assert.Equal(0, scheduler.State.UnfinishedCount);

        // The same build again: every action answered from the cache, no work queued.
        var rebuild = actions.Select(a => scheduler.Ok(Submit("build2-" + a, action: a)).Submit.Disposition).ToList();
        Assert.All(rebuild, d => Assert.Equal(SubmitDisposition.Cached, d));
        Assert.Empty(Placement.Plan(scheduler.State, now, 10_000, 100));
    }
}
