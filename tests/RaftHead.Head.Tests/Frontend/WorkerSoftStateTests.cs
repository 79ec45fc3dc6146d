using RaftHead.Head.Frontend;
using RaftHead.Head.Tests.Scheduling;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Frontend;

public sealed class WorkerSoftStateTests
{
    [Fact]
    public void A_poll_holding_an_older_state_does_not_forget_a_lease_another_poll_delivered_from_a_newer_one()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 2));
        var name = scheduler.Submit(Submit("r1", action: "x1"));
        var before = scheduler.State;
        scheduler.Ok(Assign(1_000, (name, "w", 1)));
        var after = scheduler.State;
        var soft = new WorkerSoftState(16);
        bool LeasedIn(Head.Scheduling.SchedulerState state, string operation, uint attempt) =>
            state.FindOperation(operation) is { Phase: RaftHead.Protocol.V1.OperationPhase.Leased } op && op.Attempt == attempt && op.Lease.WorkerId == "w";

        // One poll woke on the assignment and delivered the lease; the worker's other poll still holds the state before it.
        Assert.True(soft.TryDeliver("w", name, 1, after.AppliedIndex));
        soft.KeepDelivered("w", before.AppliedIndex, (operation, attempt) => LeasedIn(before, operation, attempt));

        Assert.False(soft.TryDeliver("w", name, 1, after.AppliedIndex));

        // Once a state at least as new no longer leases it to the worker, the record goes (the set stays bounded).
        scheduler.Ok(Complete(name, "w"));
        var done = scheduler.State;
        soft.KeepDelivered("w", done.AppliedIndex, (operation, attempt) => LeasedIn(done, operation, attempt));
        Assert.True(soft.TryDeliver("w", name, 1, done.AppliedIndex));
    }

    [Fact]
    public void A_lease_poll_is_woken_by_a_grant_to_its_worker_and_not_by_grants_to_others()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("a", slots: 1));
        scheduler.Ok(Register("b", slots: 1));
        var first = scheduler.Submit(Submit("r1", action: "x1"));
        var second = scheduler.Submit(Submit("r2", action: "x2"));
        var soft = new WorkerSoftState(16);
        using var pollA = soft.WatchLeases("a");
        using var pollB = soft.WatchLeases("b");
        soft.WakeLeaseChanges(scheduler.State);

        var a = pollA.Next;
        var b = pollB.Next;
        scheduler.Ok(Assign(1_000, (first, "b", 1)));
        soft.WakeLeaseChanges(scheduler.State);

        Assert.True(b.IsCompleted);
        Assert.False(a.IsCompleted);

        // Applies that leave a's leases alone (a submit, b's completion) do not wake it either.
        b = pollB.Next;
        scheduler.Submit(Submit("r3", action: "x3"));
        soft.WakeLeaseChanges(scheduler.State);
        scheduler.Ok(Complete(first, "b"));
        soft.WakeLeaseChanges(scheduler.State);
        Assert.False(a.IsCompleted);

        scheduler.Ok(Assign(1_000, (second, "a", 1)));
        soft.WakeLeaseChanges(scheduler.State);
        Assert.True(a.IsCompleted);
    }

    [Fact]
    public void A_change_before_the_poll_waits_still_wakes_it_once_it_waits()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("a", slots: 2));
        var first = scheduler.Submit(Submit("r1", action: "x1"));
        var soft = new WorkerSoftState(16);
        using var poll = soft.WatchLeases("a");
        soft.WakeLeaseChanges(scheduler.State);

        // The poll took its signal and then read a state without the grant: the grant's apply must wake it.
        var next = poll.Next;
        var read = scheduler.State;
        scheduler.Ok(Assign(1_000, (first, "a", 1)));
        Assert.Empty(read.LeasesOf("a"));
        soft.WakeLeaseChanges(scheduler.State);
        Assert.True(next.IsCompleted);
    }

    [Fact]
    public void Forgetting_a_worker_wakes_its_waiting_polls()
    {
        var soft = new WorkerSoftState(16);
        soft.Seen("a", 1_000);
        using var poll = soft.WatchLeases("a");
        var next = poll.Next;

        soft.Forget("a");

        Assert.True(next.IsCompleted);
    }

    [Fact]
    public void A_worker_without_a_waiting_poll_is_not_signalled()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("a", slots: 1));
        var first = scheduler.Submit(Submit("r1", action: "x1"));
        var soft = new WorkerSoftState(16);
        soft.WatchLeases("a").Dispose();

        scheduler.Ok(Assign(1_000, (first, "a", 1)));
        soft.WakeLeaseChanges(scheduler.State);

        Assert.Equal(0, soft.LeaseWakes);
    }
}
