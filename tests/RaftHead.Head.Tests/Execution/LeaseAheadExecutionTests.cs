using Google.LongRunning;
using Grpc.Core;
using RaftHead.Head.Frontend;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Execution.ExecutionFixture;
using Stage = Build.Bazel.Remote.Execution.V2.ExecutionStage.Types.Value;

namespace RaftHead.Head.Tests.Execution;

/// <summary>An in-process worker holding a lease ahead of its one slot, against a real head's duties and heartbeats.</summary>
public sealed class LeaseAheadExecutionTests
{
    private const int HeartbeatTtlMs = 1_000;

    private static Task<ExecutionFixture> StartAsync() => ExecutionFixture.StartAsync(
        slots: 1,
        leaseAhead: 1,
        frontend: new FrontendOptions { RetryBackoffBaseMs = 1, RetryBackoffMaxMs = 1, HeartbeatIntervalMs = 100, HeartbeatTtlMs = HeartbeatTtlMs });

    [Fact]
    public async Task A_lease_queued_on_the_worker_outlives_several_heartbeat_TTLs_and_runs_when_the_slot_frees()
    {
        await using var f = await StartAsync();
        using var blocker = f.Execute(await f.PutActionAsync("blocker"));
        var blockerRun = await f.Runner.NextRunAsync();
        var queued = await f.PutActionAsync("queued");
        using var call = f.Execute(queued);
        var name = (await ReadUntilStageAsync(call.ResponseStream, Stage.Executing)).Name;
        await EventuallyAsync(() => f.Agent!.QueuedCount == 1, "the worker queueing the lease");

        // The point is time passing: the worker beats for the queued lease as for a running one, so the leader never
        // judges it silent, never requeues the lease, and the queued action never runs beside the blocker.
        await Task.Delay(3 * HeartbeatTtlMs);
        var waiting = f.State.FindOperation(name)!;
        Assert.True(waiting.Phase == OperationPhase.Leased && waiting.Attempt == 1, $"the queued lease ended: {waiting}");
        Assert.False(f.Runner.HasPendingStart);
        Assert.Equal(1, f.Runner.Calls);

        blockerRun.Complete(0);
        var run = await f.Runner.NextRunAsync();
        Assert.Equal(queued, run.Request.ActionDigest);
        run.Complete(0);
        Assert.Equal((int)StatusCode.OK, Response(await ReadUntilDoneAsync(call.ResponseStream)).Status.Code);
        await ReadUntilDoneAsync(blocker.ResponseStream);
        var done = f.State.FindOperation(name)!;
        Assert.Equal(OperationPhase.Completed, done.Phase);
        Assert.Single(done.Attempts);
    }

    [Fact]
    public async Task Cancelling_an_operation_queued_on_the_worker_never_runs_it()
    {
        await using var f = await StartAsync();
        using var blocker = f.Execute(await f.PutActionAsync("blocker"));
        var blockerRun = await f.Runner.NextRunAsync();
        var action = await f.PutActionAsync("never runs");
        using var call = f.Execute(action);
        var name = (await ReadUntilStageAsync(call.ResponseStream, Stage.Executing)).Name;
        await EventuallyAsync(() => f.Agent!.QueuedCount == 1, "the worker queueing the lease");

        await f.Rpc.Operations.CancelOperationAsync(new CancelOperationRequest { Name = name }).ResponseAsync;
        Assert.Equal((int)StatusCode.Cancelled, Response(await ReadUntilDoneAsync(call.ResponseStream)).Status.Code);
        await EventuallyAsync(() => f.Agent!.QueuedCount == 0, "the heartbeat's answer taking the lease off the worker's queue");

        blockerRun.Complete(0);
        await ReadUntilDoneAsync(blocker.ResponseStream);
        using var after = f.Execute(await f.PutActionAsync("after"));
        var afterRun = await f.Runner.NextRunAsync();
        Assert.NotEqual(action, afterRun.Request.ActionDigest);
        afterRun.Complete(0);
        await ReadUntilDoneAsync(after.ResponseStream);
        Assert.Equal(2, f.Runner.Calls);
    }

    private static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var start = TimeProvider.System.GetTimestamp();
        while (!condition())
        {
            Assert.True(TimeProvider.System.GetElapsedTime(start) < FakeActionRunner.WaitLimit, $"{what} did not happen within {FakeActionRunner.WaitLimit.TotalSeconds} s");
            await Task.Delay(10);
        }
    }
}
