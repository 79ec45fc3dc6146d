using Google.Protobuf;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Membership;
using RaftHead.Head.Admin;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Head.Tests.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Admin;

/// <summary>
/// What <c>rh status</c> and <c>rh ops</c> say about racing clones and quarantined workers, read from a scheduler state
/// as a snapshot carries it: clones started and won, the worker time runs that lost a race spent, and why a worker
/// takes no work.
/// </summary>
public sealed class SpeculationViewTests
{
    private static readonly NodeProcess Process = new(4242, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    private static readonly Dictionary<long, string> Members = new() { [1] = "127.0.0.1:8980" };

    private static RaftStatus Leader() =>
        new(1, RaftRole.Leader, 3, 1, null, CommitIndex: 20, AppliedIndex: 20, SnapshotIndex: 0, LastIndex: 20, new ClusterMembership([1]), 0, 0);

    /// <summary>
    /// Four operations on w-a, each raced by a clone on w-b: "cloneWon" (the clone's result won; the original, stopped
    /// after 600 ms, is superseded), "originalWon" (the clone, stopped after 400 ms, is superseded), "cloneFailed" (the
    /// clone failed, the original won), "racing" (still leased, original and clone both running). w-b is quarantined.
    /// </summary>
    private static (SchedulerState State, string CloneWon, string OriginalWon, string CloneFailed, string Racing) Races()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w-a", slots: 8));
        scheduler.Ok(Register("w-b", slots: 8));
        var names = new string[4];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = scheduler.Submit(Submit("r" + i, action: "a" + i));
            scheduler.Ok(Assign(1_000 * (i + 1), (names[i], "w-a", 1)));
            if (i < 3)
            {
                scheduler.Ok(Complete(names[i], "w-a", at: (1_000 * (i + 1)) + 500));
            }
        }

        var snapshot = SchedulerSnapshot.Parser.ParseFrom(SchedulerSnapshotCodec.Encode(scheduler.State));
        foreach (var operation in snapshot.Operations)
        {
            var original = operation.Attempts[0];
            var clone = new AttemptRecord { Attempt = 2, WorkerId = "w-b", LeasedAtUnixMs = original.LeasedAtUnixMs + 100, Speculative = true };
            if (operation.Name == names[0])
            {
                original.Superseded = true;
                original.EndedAtUnixMs = original.LeasedAtUnixMs + 600;
                clone.EndedAtUnixMs = original.EndedAtUnixMs;
            }
            else if (operation.Name == names[1])
            {
                clone.Superseded = true;
                clone.EndedAtUnixMs = clone.LeasedAtUnixMs + 400;
            }
            else if (operation.Name == names[2])
            {
                clone.FailureReason = "sandbox setup failed";
                clone.EndedAtUnixMs = clone.LeasedAtUnixMs + 50;
            }

            operation.Attempts.Add(clone);
        }

        snapshot.Nondeterminism.Add(new NondeterminismReport { OperationName = names[1], ActionDigest = DigestOf("a1"), OtherWorkerId = "w-b", AtUnixMs = 2_600 });
        snapshot.Nondeterminism.Add(new NondeterminismReport { OperationName = names[2], ActionDigest = DigestOf("a2"), OtherWorkerId = "w-b", AtUnixMs = 3_600 });
        var quarantined = snapshot.Workers.Single(w => w.WorkerId == "w-b");
        quarantined.QuarantineReason = "outputs differ from every other worker's";
        quarantined.QuarantinedAtUnixMs = 7_000;
        return (SchedulerSnapshotCodec.Decode(snapshot.ToByteArray()), names[0], names[1], names[2], names[3]);
    }

    [Fact]
    public void Status_counts_every_clone_the_ones_that_won_the_time_lost_runs_held_their_workers_and_the_reports_oldest_first()
    {
        var names = Races();

        var status = NodeStatusBuilder.Build(Leader(), "127.0.0.1:8980", Members, names.State, new WorkerSoftState(16), 10_000, Process);

        Assert.Equal(4u, status.Speculation.ClonesStarted);
        // The racing clone has not finished, so it has not won, though nothing marks it failed or superseded.
        Assert.Equal(1u, status.Speculation.ClonesWon);
        Assert.Equal(600 + 400, status.Speculation.WastedWorkerMs);
        Assert.Equal([names.OriginalWon, names.CloneFailed], status.Speculation.Nondeterminism.Select(r => r.OperationName));
    }

    [Fact]
    public void A_quarantined_worker_says_why_and_since_when_and_the_others_say_nothing()
    {
        var (state, _, _, _, _) = Races();

        var status = NodeStatusBuilder.Build(Leader(), "127.0.0.1:8980", Members, state, new WorkerSoftState(16), 10_000, Process);

        var healthy = Assert.Single(status.Workers, w => w.WorkerId == "w-a");
        Assert.Equal("", healthy.QuarantineReason);
        Assert.Null(healthy.QuarantinedAt);
        var quarantined = Assert.Single(status.Workers, w => w.WorkerId == "w-b");
        Assert.Equal("outputs differ from every other worker's", quarantined.QuarantineReason);
        Assert.Equal(7_000, quarantined.QuarantinedAt.ToDateTimeOffset().ToUnixTimeMilliseconds());
    }

    [Fact]
    public void A_race_the_scheduler_ran_shows_as_a_won_clone_the_originals_lost_time_and_its_late_disagreeing_result()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("slow", slots: 1));
        scheduler.Ok(Register("fast", slots: 1));
        var op = scheduler.Submit(Submit("r1", action: "a"));
        scheduler.Ok(Assign(1_000, (op, "slow", 1)));
        scheduler.Ok(Clone(3_000, op, "fast", 2));
        scheduler.Ok(CompleteWith(op, "fast", 2, Outputs("one"), at: 4_000));
        scheduler.Ok(CompleteWith(op, "slow", 1, Outputs("two"), at: 5_000));
        scheduler.Ok(Quarantine("slow", reason: "its outputs differ", at: 5_500));

        var status = NodeStatusBuilder.Build(Leader(), "127.0.0.1:8980", Members, scheduler.State, new WorkerSoftState(16), 10_000, Process);
        var listing = OperationsListing.Build(scheduler.State, new ListOperationsRequest());

        Assert.Equal((1u, 1u), (status.Speculation.ClonesStarted, status.Speculation.ClonesWon));
        // The original held its slot from its lease until the clone's result won.
        Assert.Equal(4_000 - 1_000, status.Speculation.WastedWorkerMs);
        var report = Assert.Single(status.Speculation.Nondeterminism);
        Assert.Equal((op, "fast", "slow"), (report.OperationName, report.WinnerWorkerId, report.OtherWorkerId));
        var summary = Assert.Single(listing.Operations);
        Assert.Equal((1u, true), (summary.Clones, summary.CloneWon));
        var slow = Assert.Single(status.Workers, w => w.WorkerId == "slow");
        Assert.Equal(("its outputs differ", 5_500L), (slow.QuarantineReason, slow.QuarantinedAt.ToDateTimeOffset().ToUnixTimeMilliseconds()));
    }

    private static Build.Bazel.Remote.Execution.V2.ActionResult Outputs(string content)
    {
        var result = new Build.Bazel.Remote.Execution.V2.ActionResult();
        result.OutputFiles.Add(new Build.Bazel.Remote.Execution.V2.OutputFile { Path = "out/a", Digest = DigestOf(content) });
        return result;
    }

    [Fact]
    public void Without_clones_the_speculation_counters_are_zero()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w-a"));
        var op = scheduler.Submit(Submit("r1", action: "a"));
        scheduler.Ok(Assign(1_000, (op, "w-a", 1)));
        scheduler.Ok(Complete(op, "w-a", at: 2_000));

        var status = NodeStatusBuilder.Build(Leader(), "127.0.0.1:8980", Members, scheduler.State, new WorkerSoftState(16), 10_000, Process);

        Assert.Equal((0u, 0u, 0L), (status.Speculation.ClonesStarted, status.Speculation.ClonesWon, status.Speculation.WastedWorkerMs));
        Assert.Empty(status.Speculation.Nondeterminism);
    }

    [Fact]
    public void Ops_marks_each_operation_raced_by_a_clone_and_whether_the_clone_won()
    {
        var (state, cloneWon, originalWon, cloneFailed, racing) = Races();

        var listing = OperationsListing.Build(state, new ListOperationsRequest());

        var byName = listing.Operations.ToDictionary(o => o.Name);
        Assert.Equal((1u, true), (byName[cloneWon].Clones, byName[cloneWon].CloneWon));
        Assert.Equal((1u, false), (byName[originalWon].Clones, byName[originalWon].CloneWon));
        Assert.Equal((1u, false), (byName[cloneFailed].Clones, byName[cloneFailed].CloneWon));
        Assert.Equal((1u, false), (byName[racing].Clones, byName[racing].CloneWon));
        // The clone's failure is listed like any lost attempt.
        Assert.Equal("sandbox setup failed", Assert.Single(byName[cloneFailed].Failures).Reason);
    }
}
