using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Frontend;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Testing;

namespace RaftHead.Head.Tests.Frontend;

/// <summary>
/// What a heartbeat's answer may cancel when the leader answering it has not applied the lease's assignment yet: a
/// leader new in its term holds every committed entry but applies the tail only after its first commit, and for that
/// while a running lease looks queued (or unknown) to it.
/// </summary>
public sealed class HeartbeatJudgementTests
{
    [Fact]
    public async Task A_leader_that_has_not_applied_the_assignment_cancels_nothing_and_judges_once_caught_up()
    {
        var log = new InstantLog();
        await ProposeOkAsync(log, new SchedulerCommand { RegisterWorker = new RegisterWorker { WorkerId = "w", Slots = 1, RegisteredAtUnixMs = 1 } });
        var submitted = await ProposeOkAsync(log, new SchedulerCommand
        {
            Submit = new SubmitAction { RequestId = "r1", SubmittedAtUnixMs = 1, ActionDigest = Digests.Compute("a"u8), Platform = new Platform(), Resources = new ResourceRequest() },
        });
        var name = submitted.Submit.OperationName;
        var beforeAssignment = log.Current;
        await ProposeOkAsync(log, new SchedulerCommand
        {
            AssignLeases = new AssignLeases { AssignedAtUnixMs = 2, Grants = { new LeaseGrant { OperationName = name, WorkerId = "w", Attempt = 1, ExpiresAtUnixMs = 100_000 } } },
        });
        var assignedIndex = log.Current.AppliedIndex;
        Assert.Equal(OperationPhase.Leased, log.Current.FindOperation(name)!.Phase);

        using var data = new TempDirectory("rh-heartbeat-test-");
        await using var store = await FasterBlobStore.OpenAsync(new FasterBlobStoreOptions { DataDirectory = data.Path, MaxBytes = 1L << 26, CheckpointIntervalMs = 0 }, CancellationToken.None);
        await using var frontend = new SchedulerFrontend(log, store, new FrontendOptions());
        var service = new WorkerProtocolService(frontend);
        frontend.Workers.Registered("w", "1", "w:1", 1);

        // The new leader's applied state is the one before the assignment: the lease looks queued.
        log.Frozen = beforeAssignment;
        var running = new LeaseRef { OperationName = name, Attempt = 1, AssignedIndex = assignedIndex };
        Assert.Empty((await service.Heartbeat(Beat(running), null!)).Cancel);

        // An older worker, which sends no index, is judged as before: on that stale state its run would be cancelled.
        Assert.Single((await service.Heartbeat(Beat(new LeaseRef { OperationName = name, Attempt = 1 }), null!)).Cancel);

        // Caught up, with the operation cancelled since: now the run must stop.
        log.Frozen = null;
        await ProposeOkAsync(log, new SchedulerCommand { Cancel = new CancelOperation { OperationName = name, Reason = "test", AtUnixMs = 3 } });
        Assert.Equal(name, Assert.Single((await service.Heartbeat(Beat(running), null!)).Cancel).OperationName);
    }

    private static async Task<SchedulerResult> ProposeOkAsync(InstantLog log, SchedulerCommand command)
    {
        var result = await log.ProposeAsync(command, CancellationToken.None);
        Assert.Equal(SchedulerResultCode.Ok, result.Code);
        return result;
    }

    private static WorkerHeartbeatRequest Beat(LeaseRef running) => new() { WorkerId = "w", Incarnation = "1", Running = { running } };
}
