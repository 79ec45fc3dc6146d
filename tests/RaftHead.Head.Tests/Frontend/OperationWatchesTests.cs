using RaftHead.Head.Frontend;
using RaftHead.Head.Tests.Scheduling;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Frontend;

public sealed class OperationWatchesTests
{
    [Fact]
    public void A_stream_is_woken_by_changes_to_its_operation_and_not_by_changes_to_others()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 2));
        var mine = scheduler.Submit(Submit("r1", action: "x1"));
        var other = scheduler.Submit(Submit("r2", action: "x2"));
        var watches = new OperationWatches();
        using var watch = watches.Watch(mine);
        watches.WakeChanges(scheduler.State);

        var next = watch.Next;
        scheduler.Ok(Assign(1_000, (other, "w", 1)));
        watches.WakeChanges(scheduler.State);
        scheduler.Submit(Submit("r3", action: "x3"));
        watches.WakeChanges(scheduler.State);
        Assert.False(next.IsCompleted);

        scheduler.Ok(Assign(1_000, (mine, "w", 1)));
        watches.WakeChanges(scheduler.State);
        Assert.True(next.IsCompleted);

        next = watch.Next;
        scheduler.Ok(Complete(mine, "w"));
        watches.WakeChanges(scheduler.State);
        Assert.True(next.IsCompleted);
    }

    [Fact]
    public void The_last_stream_to_leave_ends_the_watch()
    {
        var scheduler = new Scheduler();
        var name = scheduler.Submit(Submit("r1", action: "x1"));
        var watches = new OperationWatches();

        var first = watches.Watch(name);
        var second = watches.Watch(name);
        first.Dispose();
        Assert.Equal(1, watches.Count);
        second.Dispose();

        Assert.Equal(0, watches.Count);
        Assert.Throws<ObjectDisposedException>(() => { _ = second.Next; });
    }
}
