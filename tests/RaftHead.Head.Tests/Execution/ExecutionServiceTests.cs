using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Head.Execution;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using static RaftHead.Head.Tests.Execution.ExecutionFixture;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;
using Stage = Build.Bazel.Remote.Execution.V2.ExecutionStage.Types.Value;

namespace RaftHead.Head.Tests.Execution;

/// <summary>Execute, WaitExecution and the Operations service over the real gRPC layer, with a runner the test drives.</summary>
public sealed class ExecutionServiceTests
{
    [Fact]
    public async Task Execute_streams_queued_then_executing_then_done_with_the_result()
    {
        await using var f = await StartAsync(slots: 1);
        var blocker = await f.PutActionAsync("blocker");
        var action = await f.PutActionAsync("hello");
        using var first = f.Execute(blocker);
        var blockerRun = await f.Runner.NextRunAsync();

        using var call = f.Execute(action);
        var queued = await NextAsync(call);
        Assert.Equal(Stage.Queued, Stage(queued));
        Assert.False(queued.Done);
        Assert.StartsWith("operations/", queued.Name, StringComparison.Ordinal);
        Assert.Equal(action, queued.Metadata.Unpack<ExecuteOperationMetadata>().ActionDigest);

        blockerRun.Complete(0);
        var run = await f.Runner.NextRunAsync();
        Assert.Equal(action, run.Request.ActionDigest);
        Assert.Equal("hello", run.Request.Command.Arguments[1]);
        var executing = await NextAsync(call);
        Assert.Equal(Stage.Executing, Stage(executing));
        Assert.Equal(queued.Name, executing.Name);

        run.Complete(0, "hi");
        var done = await ReadUntilDoneAsync(call.ResponseStream);
        Assert.Equal(Stage.Completed, Stage(done));
        var response = Response(done);
        Assert.False(response.CachedResult);
        Assert.Equal(0, response.Status.Code);
        Assert.Equal("hi", response.Result.StdoutRaw.ToStringUtf8());
    }

    [Fact]
    public async Task A_successful_result_is_cached_and_a_second_Execute_answers_cached_result_without_running()
    {
        await using var f = await StartAsync();
        var action = await f.PutActionAsync("cache me");
        using (var call = f.Execute(action))
        {
            (await f.Runner.NextRunAsync()).Complete(0, "out");
            Assert.False(Response(await ReadUntilDoneAsync(call.ResponseStream)).CachedResult);
        }

        Assert.Equal(0, (await f.GetActionResultAsync(action))!.ExitCode);
        using var again = f.Execute(action);
        var done = await ReadUntilDoneAsync(again.ResponseStream);
        var response = Response(done);
        Assert.True(response.CachedResult);
        Assert.Equal("out", response.Result.StdoutRaw.ToStringUtf8());
        Assert.Equal(1, f.Runner.Calls);

        // The cache hit is an operation like any other: GetOperation finds it.
        var got = await f.Rpc.Operations.GetOperationAsync(new GetOperationRequest { Name = done.Name }).ResponseAsync;
        Assert.True(got.Done);
    }

    [Fact]
    public async Task Skip_cache_lookup_runs_the_action_again()
    {
        await using var f = await StartAsync();
        var action = await f.PutActionAsync("again");
        using (var call = f.Execute(action))
        {
            (await f.Runner.NextRunAsync()).Complete(0);
            await ReadUntilDoneAsync(call.ResponseStream);
        }

        using var skip = f.Execute(action, skipCacheLookup: true);
        (await f.Runner.NextRunAsync()).Complete(0);
        Assert.False(Response(await ReadUntilDoneAsync(skip.ResponseStream)).CachedResult);
        Assert.Equal(2, f.Runner.Calls);
    }

    [Fact]
    public async Task Do_not_cache_is_neither_stored_nor_shared_between_requests()
    {
        await using var f = await StartAsync();
        var action = await f.PutActionAsync("volatile", doNotCache: true);
        using var a = f.Execute(action);
        var runA = await f.Runner.NextRunAsync();
        using var b = f.Execute(action);
        var runB = await f.Runner.NextRunAsync();
        var nameA = (await NextAsync(a)).Name;
        var nameB = (await NextAsync(b)).Name;
        Assert.NotEqual(nameA, nameB);

        runA.Complete(0);
        runB.Complete(0);
        await ReadUntilDoneAsync(a.ResponseStream);
        await ReadUntilDoneAsync(b.ResponseStream);
        Assert.Null(await f.GetActionResultAsync(action));
        Assert.Equal(2, f.Runner.Calls);
    }

    [Fact]
    public async Task A_non_zero_exit_is_returned_but_not_cached()
    {
        await using var f = await StartAsync();
        var action = await f.PutActionAsync("fails");
        using (var call = f.Execute(action))
        {
            (await f.Runner.NextRunAsync()).Complete(2);
            var response = Response(await ReadUntilDoneAsync(call.ResponseStream));
            Assert.Equal(2, response.Result.ExitCode);
            Assert.Equal(0, response.Status.Code);
        }

        Assert.Null(await f.GetActionResultAsync(action));
        using var again = f.Execute(action);
        (await f.Runner.NextRunAsync()).Complete(0);
        Assert.False(Response(await ReadUntilDoneAsync(again.ResponseStream)).CachedResult);
        Assert.Equal(2, f.Runner.Calls);
    }

    [Fact]
    public async Task Identical_actions_in_flight_share_one_operation_and_one_run()
    {
        await using var f = await StartAsync();
        var action = await f.PutActionAsync("shared");
        using var a = f.Execute(action);
        var run = await f.Runner.NextRunAsync();
        using var b = f.Execute(action, skipCacheLookup: true);
        var nameA = (await NextAsync(a)).Name;
        var nameB = (await NextAsync(b)).Name;
        Assert.Equal(nameA, nameB);

        run.Complete(0, "once");
        var doneA = Response(await ReadUntilDoneAsync(a.ResponseStream));
        var doneB = Response(await ReadUntilDoneAsync(b.ResponseStream));
        Assert.Equal("once", doneA.Result.StdoutRaw.ToStringUtf8());
        Assert.Equal(doneA, doneB);
        Assert.Equal(1, f.Runner.Calls);
        Assert.False(f.Runner.HasPendingStart);
    }

    [Fact]
    public async Task After_the_Execute_stream_breaks_the_action_keeps_running_and_WaitExecution_finds_it()
    {
        await using var f = await StartAsync();
        var action = await f.PutActionAsync("long");
        string name;
        using (var call = f.Execute(action))
        {
            name = (await NextAsync(call)).Name;
        }

        var run = await f.Runner.NextRunAsync();
        using var wait = f.Rpc.Execution.WaitExecution(new WaitExecutionRequest { Name = name });
        var current = await NextAsync(wait.ResponseStream);
        Assert.Equal(name, current.Name);
        Assert.False(current.Done);
        Assert.False(run.Token.IsCancellationRequested);

        run.Complete(0, "still here");
        var done = await ReadUntilDoneAsync(wait.ResponseStream);
        Assert.Equal("still here", Response(done).Result.StdoutRaw.ToStringUtf8());

        // A finished operation is still found for a while: WaitExecution answers its done state at once.
        using var late = f.Rpc.Execution.WaitExecution(new WaitExecutionRequest { Name = name });
        Assert.True((await ReadUntilDoneAsync(late.ResponseStream)).Done);
    }

    [Fact]
    public async Task Unknown_operations_are_not_found()
    {
        await using var f = await StartAsync();
        using var wait = f.Rpc.Execution.WaitExecution(new WaitExecutionRequest { Name = "operations/nope" });
        var error = await Assert.ThrowsAsync<RpcException>(async () => await wait.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.NotFound, error.StatusCode);

        error = await Assert.ThrowsAsync<RpcException>(() => f.Rpc.Operations.GetOperationAsync(new GetOperationRequest { Name = "operations/nope" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        error = await Assert.ThrowsAsync<RpcException>(() => f.Rpc.Operations.CancelOperationAsync(new CancelOperationRequest { Name = "operations/nope" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task A_malformed_action_digest_is_invalid_argument()
    {
        await using var f = await StartAsync();
        using var call = f.Execute(new Digest { Hash = "not-a-hash", SizeBytes = 3 });
        var error = await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("action_digest", error.GetDetail<Google.Rpc.BadRequest>()!.FieldViolations[0].Field);
    }

    [Fact]
    public async Task A_missing_action_is_failed_precondition_naming_it()
    {
        await using var f = await StartAsync();
        var absent = Digests.ComputeOf(new ReapiAction { DoNotCache = true });
        var error = await ExecuteFailsAsync(f, absent);
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        var violation = Assert.Single(error.GetDetail<Google.Rpc.PreconditionFailure>()!.Violations);
        Assert.Equal("MISSING", violation.Type);
        Assert.Equal($"blobs/{absent.Hash}/{absent.SizeBytes}", violation.Subject);
    }

    [Fact]
    public async Task Missing_inputs_are_failed_precondition_listing_every_missing_blob()
    {
        await using var f = await StartAsync();
        var present = await f.PutAsync("present file");
        var missingFileA = Digests.Compute("absent a"u8);
        var missingFileB = Digests.Compute("absent b"u8);
        var missingDeep = Digests.Compute("absent deep"u8);
        var missingSubdir = Digests.ComputeOf(new ReapiDirectory { Files = { new FileNode { Name = "never", Digest = Digests.Compute("never"u8) } } });
        var presentSubdir = await f.PutAsync(new ReapiDirectory { Files = { new FileNode { Name = "deep", Digest = missingDeep } } });
        var root = await f.PutAsync(new ReapiDirectory
        {
            Files =
            {
                new FileNode { Name = "a", Digest = missingFileA },
                new FileNode { Name = "b", Digest = missingFileB },
                new FileNode { Name = "c", Digest = present },
                new FileNode { Name = "d", Digest = missingFileA }, // listed once
            },
            Directories =
            {
                new DirectoryNode { Name = "gone", Digest = missingSubdir },
                new DirectoryNode { Name = "here", Digest = presentSubdir },
            },
        });
        var missingCommand = Digests.ComputeOf(new Command { Arguments = { "/bin/true" } });
        var action = await f.PutAsync(new ReapiAction { CommandDigest = missingCommand, InputRootDigest = root });

        var error = await ExecuteFailsAsync(f, action);
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        var violations = error.GetDetail<Google.Rpc.PreconditionFailure>()!.Violations;
        Assert.All(violations, v => Assert.Equal("MISSING", v.Type));
        var expected = new[] { missingCommand, missingSubdir, missingFileA, missingFileB, missingDeep }
            .Select(d => $"blobs/{d.Hash}/{d.SizeBytes}")
            .Order(StringComparer.Ordinal);
        Assert.Equal(expected, violations.Select(v => v.Subject).Order(StringComparer.Ordinal));
        Assert.Equal(0, f.Runner.Calls);
    }

    [Fact]
    public async Task A_platform_no_worker_can_satisfy_is_failed_precondition_naming_the_property()
    {
        await using var f = await StartAsync(slots: 1, platform: [KeyValuePair.Create("OSFamily", "linux"), KeyValuePair.Create("ISA", "x86-64")]);
        var bad = await f.PutActionAsync("large", platform: new Platform
        {
            Properties =
            {
                new Platform.Types.Property { Name = "OSFamily", Value = "Linux" },
                new Platform.Types.Property { Name = "pool", Value = "large" },
                new Platform.Types.Property { Name = "ISA", Value = "arm-a64" },
            },
        });
        var error = await ExecuteFailsAsync(f, bad);
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("pool=large", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("ISA=arm-a64", error.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("OSFamily", error.Status.Detail, StringComparison.Ordinal);
        var subjects = error.GetDetail<Google.Rpc.PreconditionFailure>()!.Violations.Select(v => v.Subject);
        Assert.Equal(new[] { "pool=large", "ISA=arm-a64" }, subjects);
        Assert.Empty(f.State.Operations);

        var good = await f.PutActionAsync("linux", platform: new Platform { Properties = { new Platform.Types.Property { Name = "OSFamily", Value = "linux" } } });
        using var call = f.Execute(good);
        (await f.Runner.NextRunAsync()).Complete(0);
        Assert.Equal(0, Response(await ReadUntilDoneAsync(call.ResponseStream)).Status.Code);
    }

    [Fact]
    public async Task A_full_queue_is_resource_exhausted_with_retry_info()
    {
        await using var f = await StartAsync(slots: 1, limits: new SchedulerLimits { UnfinishedOperationsMax = 2 }, frontend: new FrontendOptions { RetryDelayMs = 2500 });
        using var running = f.Execute(await f.PutActionAsync("running"));
        var run = await f.Runner.NextRunAsync();
        using var queued = f.Execute(await f.PutActionAsync("queued"));
        Assert.Equal(Stage.Queued, Stage(await NextAsync(queued)));

        var error = await ExecuteFailsAsync(f, await f.PutActionAsync("one too many"));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), error.GetDetail<Google.Rpc.RetryInfo>()!.RetryDelay.ToTimeSpan());

        // Joining an action already in flight adds no work, so it is admitted even now.
        using var joined = f.Execute(await f.PutActionAsync("queued"));
        Assert.Equal(Stage.Queued, Stage(await NextAsync(joined)));
        run.Complete(0);
        (await f.Runner.NextRunAsync()).Complete(0);
        await ReadUntilDoneAsync(joined.ResponseStream);
    }

    [Fact]
    public async Task CancelOperation_cancels_the_runner_and_completes_the_operation_cancelled()
    {
        await using var f = await StartAsync(slots: 1);
        using var call = f.Execute(await f.PutActionAsync("to cancel"));
        var run = await f.Runner.NextRunAsync();
        var name = (await ReadUntilStageAsync(call.ResponseStream, Stage.Executing)).Name;

        await f.Rpc.Operations.CancelOperationAsync(new CancelOperationRequest { Name = name }).ResponseAsync;
        await run.Cancelled.Task.WaitAsync(FakeActionRunner.WaitLimit);
        var done = await ReadUntilDoneAsync(call.ResponseStream);
        Assert.Equal((int)StatusCode.Cancelled, Response(done).Status.Code);

        // The slot is free again for the next action.
        using var next = f.Execute(await f.PutActionAsync("next"));
        (await f.Runner.NextRunAsync()).Complete(0);
        Assert.Equal(0, Response(await ReadUntilDoneAsync(next.ResponseStream)).Status.Code);
    }

    [Fact]
    public async Task Cancelling_a_queued_operation_never_runs_it()
    {
        await using var f = await StartAsync(slots: 1);
        using var blocker = f.Execute(await f.PutActionAsync("blocker"));
        var blockerRun = await f.Runner.NextRunAsync();
        var action = await f.PutActionAsync("never runs");
        using var call = f.Execute(action);
        var name = (await NextAsync(call)).Name;

        await f.Rpc.Operations.CancelOperationAsync(new CancelOperationRequest { Name = name }).ResponseAsync;
        Assert.Equal((int)StatusCode.Cancelled, Response(await ReadUntilDoneAsync(call.ResponseStream)).Status.Code);

        blockerRun.Complete(0);
        await ReadUntilDoneAsync(blocker.ResponseStream);
        using var after = f.Execute(await f.PutActionAsync("after"));
        var afterRun = await f.Runner.NextRunAsync();
        Assert.NotEqual(action, afterRun.Request.ActionDigest);
        afterRun.Complete(0);
        await ReadUntilDoneAsync(after.ResponseStream);
        Assert.Equal(2, f.Runner.Calls);

        // A new Execute of the cancelled action is not joined to the cancelled operation.
        using var retry = f.Execute(action);
        Assert.NotEqual(name, (await NextAsync(retry)).Name);
        (await f.Runner.NextRunAsync()).Complete(0);
        await ReadUntilDoneAsync(retry.ResponseStream);
    }

    [Fact]
    public async Task ListOperations_filters_by_stage()
    {
        await using var f = await StartAsync(slots: 1);
        using (var call = f.Execute(await f.PutActionAsync("done")))
        {
            (await f.Runner.NextRunAsync()).Complete(0);
            await ReadUntilDoneAsync(call.ResponseStream);
        }

        using var executing = f.Execute(await f.PutActionAsync("executing"));
        var run = await f.Runner.NextRunAsync();
        using var queued = f.Execute(await f.PutActionAsync("queued"));
        var queuedName = (await NextAsync(queued)).Name;
        var executingName = (await ReadUntilStageAsync(executing.ResponseStream, Stage.Executing)).Name;

        async Task<List<string>> ListAsync(string filter, int pageSize = 0)
        {
            var names = new List<string>();
            var token = "";
            do
            {
                var page = await f.Rpc.Operations.ListOperationsAsync(new ListOperationsRequest { Filter = filter, PageSize = pageSize, PageToken = token }).ResponseAsync;
                names.AddRange(page.Operations.Select(o => o.Name));
                token = page.NextPageToken;
            }
            while (token.Length > 0);
            return names;
        }

        Assert.Equal(new[] { queuedName }, await ListAsync("stage=QUEUED"));
        Assert.Equal(new[] { executingName }, await ListAsync("stage=executing"));
        Assert.Single(await ListAsync("stage=COMPLETED"));
        Assert.Equal(2, (await ListAsync("done=false")).Count);
        Assert.Equal(3, (await ListAsync("", pageSize: 1)).Count);
        Assert.Equal(2, (await ListAsync("stage=QUEUED,COMPLETED", pageSize: 1)).Count);
        var error = await Assert.ThrowsAsync<RpcException>(() => ListAsync("stage=SOMETIMES"));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);

        var state = f.State;
        Assert.Equal(3, state.Operations.Count);
        var busy = Assert.Single(state.Operations.Values, o => o.Phase == RaftHead.Protocol.V1.OperationPhase.Leased);
        Assert.Equal(executingName, busy.Name);
        Assert.True(busy.Lease.LeasedAtUnixMs > 0);
        Assert.False(string.IsNullOrEmpty(busy.Lease.WorkerId));
        Assert.Equal(1, state.LeasedCount);
        Assert.Equal(1, state.QueuedCount);
        run.Complete(0);
    }

    [Fact]
    public async Task A_runner_that_throws_fails_the_attempt_and_after_the_last_attempt_the_operation_is_dead_lettered_with_the_reason()
    {
        await using var f = await StartAsync(slots: 1, limits: new SchedulerLimits { AttemptsMax = 2 });
        f.Runner.Throw = new InvalidOperationException("sandbox exploded");
        var action = await f.PutActionAsync("boom");
        using (var call = f.Execute(action))
        {
            await f.Runner.NextRunAsync();
            await f.Runner.NextRunAsync();
            var response = Response(await ReadUntilDoneAsync(call.ResponseStream));
            Assert.NotEqual(0, response.Status.Code);
            Assert.Contains("sandbox exploded", response.Status.Message, StringComparison.Ordinal);
            Assert.Equal(2, f.Runner.Calls);
        }

        Assert.Null(await f.GetActionResultAsync(action));
        f.Runner.Throw = null;
        using var next = f.Execute(action);
        (await f.Runner.NextRunAsync()).Complete(0);
        Assert.Equal(0, Response(await ReadUntilDoneAsync(next.ResponseStream)).Status.Code);
    }

    [Fact]
    public async Task A_timeout_beyond_the_maximum_is_invalid_argument()
    {
        await using var f = await StartAsync(slots: 1, execution: new ExecutionOptions { ActionTimeoutDefaultMs = 1000, ActionTimeoutMaxMs = 60_000 });
        var error = await ExecuteFailsAsync(f, await f.PutActionAsync("slow", timeout: Duration.FromTimeSpan(TimeSpan.FromMinutes(5))));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("action.timeout", error.GetDetail<Google.Rpc.BadRequest>()!.FieldViolations[0].Field);
    }

    [Fact]
    public async Task Higher_priority_runs_first()
    {
        await using var f = await StartAsync(slots: 1);
        using var blocker = f.Execute(await f.PutActionAsync("blocker"));
        var blockerRun = await f.Runner.NextRunAsync();
        var low = await f.PutActionAsync("low");
        var high = await f.PutActionAsync("high");
        using var lowCall = f.Rpc.Execution.Execute(new ExecuteRequest { ActionDigest = low, ExecutionPolicy = new ExecutionPolicy { Priority = 10 } });
        Assert.Equal(Stage.Queued, Stage(await NextAsync(lowCall)));
        using var highCall = f.Rpc.Execution.Execute(new ExecuteRequest { ActionDigest = high, ExecutionPolicy = new ExecutionPolicy { Priority = -5 } });
        Assert.Equal(Stage.Queued, Stage(await NextAsync(highCall)));

        blockerRun.Complete(0);
        var first = await f.Runner.NextRunAsync();
        Assert.Equal(high, first.Request.ActionDigest);
        first.Complete(0);
        var second = await f.Runner.NextRunAsync();
        Assert.Equal(low, second.Request.ActionDigest);
        second.Complete(0);
        await ReadUntilDoneAsync(lowCall.ResponseStream);
    }

    [Fact]
    public async Task An_idle_stream_is_sent_the_current_state_again()
    {
        await using var f = await StartAsync(slots: 1, frontend: new FrontendOptions { StreamKeepAliveMs = 20 });
        using var call = f.Execute(await f.PutActionAsync("quiet"));
        var run = await f.Runner.NextRunAsync();
        var executing = await ReadUntilStageAsync(call.ResponseStream, Stage.Executing);
        Assert.Equal(executing, await NextAsync(call));
        run.Complete(0);
        await ReadUntilDoneAsync(call.ResponseStream);
    }

    [Fact]
    public async Task Shutdown_ends_open_streams_unavailable_so_clients_retry()
    {
        await using var f = await StartAsync(slots: 1);
        using var call = f.Execute(await f.PutActionAsync("interrupted"));
        var run = await f.Runner.NextRunAsync();
        await ReadUntilStageAsync(call.ResponseStream, Stage.Executing);

        var tooLate = await f.PutActionAsync("too late");

        // The worker stops first (its run is killed and requeued, which the stream may still report), then the head.
        await f.StopAsync();
        Assert.True(run.Cancelled.Task.IsCompleted);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (true)
            {
                Assert.False((await NextAsync(call)).Done, "a shutdown finished the operation");
            }
        });
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        error = await ExecuteFailsAsync(f, tooLate);
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task Capabilities_say_execution_is_enabled()
    {
        await using var f = await StartAsync();
        var caps = await f.Rpc.Capabilities.GetCapabilitiesAsync(new GetCapabilitiesRequest()).ResponseAsync;
        Assert.True(caps.ExecutionCapabilities.ExecEnabled);
        Assert.Equal(DigestFunction.Types.Value.Sha256, caps.ExecutionCapabilities.DigestFunction);
    }

    private static async Task<RpcException> ExecuteFailsAsync(ExecutionFixture f, Digest action)
    {
        using var call = f.Execute(action);
        using var limit = new CancellationTokenSource(FakeActionRunner.WaitLimit);
        return await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(limit.Token));
    }
}
