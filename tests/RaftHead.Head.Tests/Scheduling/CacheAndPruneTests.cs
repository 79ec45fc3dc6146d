using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

public sealed class CacheAndPruneTests
{
    [Fact]
    public void The_action_cache_forgets_the_least_recently_updated_entry_beyond_its_bound()
    {
        var scheduler = new Scheduler(new SchedulerLimits { ActionCacheEntriesMax = 2 });
        scheduler.Ok(CacheUpdate("a"));
        scheduler.Ok(CacheUpdate("b"));
        scheduler.Ok(CacheUpdate("a", exitCode: 0, at: 2_000));
        scheduler.Ok(CacheUpdate("c"));

        Assert.NotNull(scheduler.State.FindCachedResult("", DigestOf("a")));
        Assert.Null(scheduler.State.FindCachedResult("", DigestOf("b")));
        Assert.NotNull(scheduler.State.FindCachedResult("", DigestOf("c")));
        Assert.Null(scheduler.State.FindCachedResult("other", DigestOf("c")));
    }

    [Fact]
    public void Invalid_cache_updates_are_refused()
    {
        var scheduler = new Scheduler();
        var noResult = CacheUpdate("a");
        noResult.UpdateActionCache.Result = null;
        Assert.Contains("result is missing", scheduler.Refused(noResult, SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        var badDigest = CacheUpdate("a");
        badDigest.UpdateActionCache.ActionDigest.Hash = "xyz";
        Assert.Contains("action_digest", scheduler.Refused(badDigest, SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        var noDigest = CacheUpdate("a");
        noDigest.UpdateActionCache.ActionDigest = null;
        scheduler.Refused(noDigest, SchedulerResultCode.InvalidArgument);
        Assert.Contains("instance_name", scheduler.Refused(CacheUpdate("a", instance: new string('i', 300)), SchedulerResultCode.InvalidArgument), StringComparison.Ordinal);
        Assert.Equal(0, scheduler.State.Cache.Count);
    }

    [Fact]
    public void Prune_forgets_operations_finished_before_the_cut_oldest_first_within_the_limit()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 4));
        var early = scheduler.Submit(Submit("r1", action: "a"));
        var later = scheduler.Submit(Submit("r2", action: "b"));
        var recent = scheduler.Submit(Submit("r3", action: "c"));
        var running = scheduler.Submit(Submit("r4", action: "d"));
        scheduler.Ok(Assign(1_000, (running, "w", 1)));
        scheduler.Ok(Cancel(early, at: 100));
        scheduler.Ok(Cancel(later, at: 200));
        scheduler.Ok(Cancel(recent, at: 900));

        var first = scheduler.Ok(Prune(before: 500, limit: 1)).Prune;
        Assert.Equal((1u, 1u), (first.Pruned, first.Remaining));
        Assert.Null(scheduler.State.FindOperation(early));
        Assert.NotNull(scheduler.State.FindOperation(later));

        var second = scheduler.Ok(Prune(before: 500)).Prune;
        Assert.Equal((1u, 0u), (second.Pruned, second.Remaining));
        Assert.Null(scheduler.State.FindOperation(later));
        Assert.NotNull(scheduler.State.FindOperation(recent));
        Assert.NotNull(scheduler.State.FindOperation(running));

        // A pruned request id is free again: a new submit makes a new operation.
        Assert.Null(scheduler.State.FindOperationByRequest("r1"));
        Assert.Equal(SubmitDisposition.Queued, scheduler.Ok(Submit("r1", action: "a")).Submit.Disposition);

        var version = scheduler.State.Version;
        Assert.Equal(0u, scheduler.Ok(Prune(before: 500)).Prune.Pruned);
        Assert.Equal(version, scheduler.State.Version);
    }
}
