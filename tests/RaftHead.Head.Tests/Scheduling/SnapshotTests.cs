using Google.Protobuf;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

public sealed class SnapshotTests
{
    private static Scheduler Busy()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w", slots: 2, gpus: 1, platform: Platform("os=linux")));
        scheduler.Ok(Register("v", slots: 1));
        var a = scheduler.Submit(Submit("r1", action: "a", invocation: "x", gpuMillis: 500, platform: Platform("os=linux")));
        scheduler.Submit(Submit("r2", action: "b", invocation: "y"));
        scheduler.Submit(Submit("r3", action: "c", invocation: "x"));
        scheduler.Submit(Submit("r4", action: "d", invocation: "z", priority: 1));
        scheduler.Ok(Submit("r5", action: "b", invocation: "z"));
        scheduler.Ok(Assign(1_000, (a, "w", 1)));
        scheduler.Ok(CacheUpdate("e"));
        scheduler.Ok(CacheUpdate("f"));
        scheduler.Ok(Submit("r6", action: "e"));
        return scheduler;
    }

    [Fact]
    public void Restore_of_a_snapshot_round_trips_the_exact_bytes_and_every_index()
    {
        var scheduler = Busy();
        var bytes = scheduler.Machine.Snapshot();

        var copy = new SchedulerStateMachine();
        copy.Restore(bytes);

        Assert.Equal(bytes, copy.Snapshot());
        var (original, restored) = (scheduler.State, copy.Current);
        Assert.Null(SchedulerInvariants.Check(restored, copy.Limits));
        Assert.Equal(original.AppliedIndex, restored.AppliedIndex);
        Assert.Equal(original.Version, restored.Version);
        Assert.Equal(original.QueuedCount, restored.QueuedCount);
        Assert.Equal(original.Queues.Keys, restored.Queues.Keys);
        Assert.Equal(original.Queues.Values.Select(l => l.Ring), restored.Queues.Values.Select(l => l.Ring));
        Assert.Equal(original.Usage["w"].GpuMillisByDevice.ToArray(), restored.Usage["w"].GpuMillisByDevice.ToArray());
        Assert.Equal(original.Requests.OrderBy(r => r.Key, StringComparer.Ordinal), restored.Requests.OrderBy(r => r.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void A_capture_writes_the_state_it_was_taken_at_even_after_later_commands()
    {
        var scheduler = Busy();
        var before = scheduler.Machine.Snapshot();
        var capture = scheduler.Machine.CaptureSnapshot();

        scheduler.Ok(Submit("after-capture", action: "g"));

        using var written = new MemoryStream();
        capture.WriteTo(written);
        Assert.Equal(before, written.ToArray());
        Assert.NotEqual(before, scheduler.Machine.Snapshot());
    }

    [Fact]
    public void A_restored_replica_plans_and_applies_exactly_as_the_original()
    {
        var scheduler = Busy();
        var copy = new SchedulerStateMachine();
        copy.Restore(scheduler.Machine.Snapshot());

        var plan = Placement.Plan(scheduler.State, 2_000, 10_000, 10);
        Assert.Equal(plan, Placement.Plan(copy.Current, 2_000, 10_000, 10));
        Assert.NotEmpty(plan);

        var next = Assign(2_000, plan).ToByteArray();
        var index = scheduler.LastIndex + 1;
        Assert.Equal(scheduler.Machine.Apply(index, next), copy.Apply(index, next));
        Assert.Equal(scheduler.Machine.Snapshot(), copy.Snapshot());
    }

    [Fact]
    public void Equal_states_reached_in_different_orders_encode_equally_where_order_is_not_state()
    {
        // Workers registered in a different order are the same state (nothing depends on registration order).
        var first = new Scheduler();
        first.Ok(Register("a"));
        first.Ok(Register("b"));
        var second = new Scheduler();
        second.Ok(Register("b"));
        second.Ok(Register("a"));
        Assert.Equal(first.Machine.Snapshot(), second.Machine.Snapshot());
    }

    [Fact]
    public void A_snapshot_that_is_not_one_or_contradicts_itself_is_refused()
    {
        var machine = new SchedulerStateMachine();
        Assert.Throws<InvalidDataException>(() => machine.Restore(new byte[] { 0x0a, 0xff }));
        Assert.Throws<InvalidDataException>(() => machine.Restore(new SchedulerSnapshot { FormatVersion = 2 }.ToByteArray()));

        var parsed = SchedulerSnapshot.Parser.ParseFrom(Busy().Machine.Snapshot());
        parsed.Rings[0].Invocations.Add("nobody");
        Assert.Throws<InvalidDataException>(() => machine.Restore(parsed.ToByteArray()));

        var orphan = SchedulerSnapshot.Parser.ParseFrom(Busy().Machine.Snapshot());
        orphan.Workers.Clear();
        Assert.Throws<InvalidDataException>(() => machine.Restore(orphan.ToByteArray()));

        Assert.Equal(0, machine.Current.AppliedIndex);
    }
}
