using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Frontend;
using RaftHead.Head.Tests.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Frontend;

/// <summary><c>rh ops</c>'s answer: what each operation went through, and the outcome filters applied before the limit.</summary>
public sealed class OperationsListingTests
{
    /// <summary>
    /// On one worker: "dead" lost all three attempts, "failed" exited 1, "ok" succeeded, "cancelled" was cancelled
    /// while queued, "retried" lost its first attempt and runs its second.
    /// </summary>
    private static (Scheduler Scheduler, string Dead, string Failed, string Ok, string Cancelled, string Retried) History()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w-a", slots: 8));
        var dead = scheduler.Submit(Submit("r1", action: "dead"));
        for (uint attempt = 1; attempt <= 3; attempt++)
        {
            scheduler.Ok(Assign(1_000 + attempt, (dead, "w-a", attempt)));
            scheduler.Ok(Fail(dead, "w-a", attempt, $"sandbox failed #{attempt}", at: 1_100 + attempt));
        }

        var failed = scheduler.Submit(Submit("r2", action: "failed"));
        scheduler.Ok(Assign(2_000, (failed, "w-a", 1)));
        scheduler.Ok(Complete(failed, "w-a", exitCode: 1, at: 2_100));
        var ok = scheduler.Submit(Submit("r3", action: "ok"));
        scheduler.Ok(Assign(3_000, (ok, "w-a", 1)));
        scheduler.Ok(Complete(ok, "w-a", at: 3_100));
        var cancelled = scheduler.Submit(Submit("r4", action: "cancelled"));
        scheduler.Ok(Cancel(cancelled, at: 4_000, reason: "client went away"));
        var retried = scheduler.Submit(Submit("r5", action: "retried"));
        scheduler.Ok(Assign(5_000, (retried, "w-a", 1)));
        scheduler.Ok(Fail(retried, "w-a", 1, "worker lost", at: 5_100));
        scheduler.Ok(Assign(5_200, (retried, "w-a", 2)));
        return (scheduler, dead, failed, ok, cancelled, retried);
    }

    [Fact]
    public void A_dead_lettered_operation_carries_its_attempts_each_failure_and_the_give_up_message()
    {
        var (scheduler, dead, _, _, _, _) = History();

        var listing = OperationsListing.Build(scheduler.State, new ListOperationsRequest());

        var op = Assert.Single(listing.Operations, o => o.Name == dead);
        Assert.True(op.DeadLettered);
        Assert.False(op.Cancelled);
        Assert.Equal(3u, op.Attempts);
        Assert.Equal(ExecutionStage.Types.Value.Completed, op.Stage);
        Assert.Equal([1u, 2u, 3u], op.Failures.Select(f => f.Attempt));
        Assert.Equal(["sandbox failed #1", "sandbox failed #2", "sandbox failed #3"], op.Failures.Select(f => f.Reason));
        Assert.All(op.Failures, f => Assert.Equal("w-a", f.WorkerId));
        Assert.Equal(1_103, op.Failures[2].EndedAt.ToDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal((int)global::Grpc.Core.StatusCode.Aborted, op.StatusCode);
        Assert.Contains("sandbox failed #2", op.StatusMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void A_running_operation_shows_the_attempt_it_lost_and_a_success_shows_none()
    {
        var (scheduler, _, _, ok, cancelled, retried) = History();

        var listing = OperationsListing.Build(scheduler.State, new ListOperationsRequest());

        var running = Assert.Single(listing.Operations, o => o.Name == retried);
        Assert.Equal((2u, false), (running.Attempts, running.DeadLettered));
        Assert.Equal("worker lost", Assert.Single(running.Failures).Reason);
        var success = Assert.Single(listing.Operations, o => o.Name == ok);
        Assert.Equal((1u, 0, ""), (success.Attempts, success.Failures.Count, success.StatusMessage));
        var gone = Assert.Single(listing.Operations, o => o.Name == cancelled);
        Assert.True(gone.Cancelled);
        Assert.Equal(0u, gone.Attempts);
    }

    [Theory]
    [InlineData(OutcomeFilter.DeadLettered, "dead")]
    [InlineData(OutcomeFilter.Failed, "cancelled failed dead")]
    [InlineData(OutcomeFilter.Any, "retried cancelled ok failed dead")]
    public void The_outcome_filter_selects_before_the_limit_counts(OutcomeFilter outcome, string expected)
    {
        var history = History();
        var names = new Dictionary<string, string>
        {
            [history.Dead] = "dead",
            [history.Failed] = "failed",
            [history.Ok] = "ok",
            [history.Cancelled] = "cancelled",
            [history.Retried] = "retried",
        };

        var all = OperationsListing.Build(history.Scheduler.State, new ListOperationsRequest { Outcome = outcome });
        var first = OperationsListing.Build(history.Scheduler.State, new ListOperationsRequest { Outcome = outcome, Limit = 1 });

        Assert.Equal(expected, string.Join(' ', all.Operations.Select(o => names[o.Name])));
        Assert.Equal(expected.Split(' ')[0], names[Assert.Single(first.Operations).Name]);
    }

    [Fact]
    public void An_outcome_filter_this_head_does_not_know_lists_nothing_rather_than_everything()
    {
        var (scheduler, _, _, _, _, _) = History();

        var listing = OperationsListing.Build(scheduler.State, new ListOperationsRequest { Outcome = (OutcomeFilter)99 });

        Assert.Empty(listing.Operations);
    }
}
