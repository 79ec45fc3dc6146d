using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Grpc.Core;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Frontend.FrontendFixture;
using Stage = Build.Bazel.Remote.Execution.V2.ExecutionStage.Types.Value;

namespace RaftHead.Head.Tests.Frontend;

/// <summary>
/// The execution frontend end to end on one head: REAPI clients and a worker speaking the worker protocol, through a
/// one-member Raft log applying the scheduler state machine.
/// </summary>
public sealed class FrontendTests
{
    private static ActionResult ResultFor(string text) => new()
    {
        ExitCode = 0,
        StdoutDigest = Digests.Compute(System.Text.Encoding.UTF8.GetBytes(text)),
        ExecutionMetadata = new ExecutedActionMetadata { Worker = "w1" },
    };

    [Fact]
    public async Task Execute_streams_queued_executing_completed_with_the_workers_result_and_the_next_execute_is_a_cache_hit()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("hello");

        using var call = f.Execute(action);
        var queued = await NextAsync(call.ResponseStream);
        Assert.Equal(Stage.Queued, Stage(queued));
        Assert.False(queued.Done);
        Assert.StartsWith("operations/t-", queued.Name, StringComparison.Ordinal);
        Assert.Equal(action, queued.Metadata.Unpack<ExecuteOperationMetadata>().ActionDigest);

        var worker = await f.RegisterAsync("w1");
        var lease = await f.LeaseAsync(worker);
        Assert.Equal(queued.Name, lease.OperationName);
        Assert.Equal(action, lease.ActionDigest);
        Assert.Equal(1u, lease.Attempt);
        // The Action and its Command ride along, so the worker starts without reading them.
        var inlineAction = Build.Bazel.Remote.Execution.V2.Action.Parser.ParseFrom(lease.Action);
        Assert.Equal(action, Digests.Compute(lease.Action.Span));
        Assert.Equal(inlineAction.CommandDigest, Digests.Compute(lease.Command.Span));
        var executing = await NextAsync(call.ResponseStream);
        Assert.Equal(Stage.Executing, Stage(executing));
        Assert.Equal(queued.Name, executing.Name);

        // The worker stores stdout before it completes: a result naming a blob the CAS lacks is not served.
        var result = ResultFor("hello\n");
        await f.PutAsync(System.Text.Encoding.UTF8.GetBytes("hello\n"));
        var completed = await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = worker, OperationName = lease.OperationName, Attempt = lease.Attempt, Result = result });
        Assert.True(completed.Accepted);
        var done = await ReadUntilDoneAsync(call.ResponseStream);
        Assert.Equal(Stage.Completed, Stage(done));
        var response = Response(done);
        Assert.Equal(result, response.Result);
        Assert.False(response.CachedResult);
        Assert.Equal(0, response.Status.Code);

        // The same action again: answered from the replicated action cache, done in the first message.
        using var again = f.Execute(action);
        var hit = await ReadUntilDoneAsync(again.ResponseStream);
        Assert.True(Response(hit).CachedResult);
        Assert.Equal(result, Response(hit).Result);
        Assert.NotEqual(done.Name, hit.Name);

        // skip_cache_lookup runs it again.
        using var fresh = f.Execute(action, skipCacheLookup: true);
        var rerun = await NextAsync(fresh.ResponseStream);
        Assert.False(rerun.Done);
        var second = await f.LeaseAsync(worker);
        Assert.Equal(rerun.Name, second.OperationName);

        // A repeated Complete of the finished attempt is refused, not applied twice.
        var repeat = await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = worker, OperationName = lease.OperationName, Attempt = lease.Attempt, Result = result });
        Assert.False(repeat.Accepted);
    }

    [Fact]
    public async Task Identical_executes_in_flight_share_one_operation_and_one_run()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("shared");
        using var first = f.Execute(action);
        using var second = f.Execute(action);
        var a = await NextAsync(first.ResponseStream);
        var b = await NextAsync(second.ResponseStream);
        Assert.Equal(a.Name, b.Name);

        var worker = await f.RegisterAsync("w1", slots: 2);
        var lease = await f.LeaseAsync(worker);
        await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = worker, OperationName = lease.OperationName, Attempt = 1, Result = ResultFor("s") });
        Assert.Equal(ResultFor("s"), Response(await ReadUntilDoneAsync(first.ResponseStream)).Result);
        Assert.Equal(ResultFor("s"), Response(await ReadUntilDoneAsync(second.ResponseStream)).Result);
        Assert.Single(f.State.Operations);
    }

    [Fact]
    public async Task A_cache_hit_is_answered_without_a_log_entry_and_its_name_finds_it_again()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("hit");
        var worker = await f.RegisterAsync("w1");
        var stdout = System.Text.Encoding.UTF8.GetBytes("hit\n");
        await f.PutAsync(stdout);
        using (var call = f.Execute(action))
        {
            var lease = await f.LeaseAsync(worker);
            Assert.True((await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = worker, OperationName = lease.OperationName, Attempt = 1, Result = ResultFor("hit\n") })).Accepted);
            await ReadUntilDoneAsync(call.ResponseStream);
        }

        var applied = f.Driver.Status.LastIndex;
        var operations = f.State.Operations.Count;
        using var again = f.Execute(action);
        var hit = await ReadUntilDoneAsync(again.ResponseStream);
        Assert.True(Response(hit).CachedResult);
        Assert.Equal(ResultFor("hit\n"), Response(hit).Result);
        Assert.Equal(applied, f.Driver.Status.LastIndex);
        Assert.Equal(operations, f.State.Operations.Count);
        Assert.Equal(1, f.Frontend.ActionCache.GetStats().Hits);

        // The answer's name works like any operation's: GetOperation and WaitExecution answer it, done.
        var got = await f.Rpc.Operations.GetOperationAsync(new GetOperationRequest { Name = hit.Name });
        Assert.True(got.Done);
        Assert.Equal(ResultFor("hit\n"), Response(got).Result);
        using var wait = f.Rpc.Execution.WaitExecution(new WaitExecutionRequest { Name = hit.Name }, deadline: DateTime.UtcNow + WaitLimit);
        Assert.True(Response(await ReadUntilDoneAsync(wait.ResponseStream)).CachedResult);

        // A name of that form for an action the cache does not hold is NOT_FOUND, like any unknown operation.
        var other = CachedAnswers.Name("", Digests.Compute(stdout));
        var missing = await Assert.ThrowsAsync<RpcException>(() => f.Rpc.Operations.GetOperationAsync(new GetOperationRequest { Name = other }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task A_cached_result_whose_blobs_are_gone_is_not_served_and_the_action_runs_again()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("lost");
        var worker = await f.RegisterAsync("w1");
        using (var call = f.Execute(action))
        {
            // Stdout is named by digest but never stored (as if evicted since).
            var lease = await f.LeaseAsync(worker);
            Assert.True((await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = worker, OperationName = lease.OperationName, Attempt = 1, Result = ResultFor("lost\n") })).Accepted);
            await ReadUntilDoneAsync(call.ResponseStream);
        }

        Assert.NotNull(f.State.FindCachedResult("", action));
        using var again = f.Execute(action);
        var queued = await NextAsync(again.ResponseStream);
        Assert.False(queued.Done);
        var rerun = await f.LeaseAsync(worker);
        Assert.Equal(queued.Name, rerun.OperationName);
        Assert.Equal(1, f.Frontend.ActionCache.GetStats().Incomplete);
    }

    [Fact]
    public async Task A_do_not_cache_action_runs_every_time()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("volatile", doNotCache: true);
        var worker = await f.RegisterAsync("w1");
        for (var round = 0; round < 2; round++)
        {
            using var call = f.Execute(action);
            var lease = await f.LeaseAsync(worker);
            Assert.True((await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = worker, OperationName = lease.OperationName, Attempt = 1, Result = ResultFor("v") })).Accepted);
            var done = await ReadUntilDoneAsync(call.ResponseStream);
            Assert.False(Response(done).CachedResult);
        }

        Assert.Null(f.State.FindCachedResult("", action));
    }

    [Fact]
    public async Task WaitExecution_and_GetOperation_find_the_operation_after_the_execute_stream_is_gone()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("resumed");
        string name;
        using (var call = f.Execute(action))
        {
            name = (await NextAsync(call.ResponseStream)).Name;
        }

        var got = await f.Rpc.Operations.GetOperationAsync(new GetOperationRequest { Name = name });
        Assert.Equal(Stage.Queued, Stage(got));

        using var wait = f.Rpc.Execution.WaitExecution(new WaitExecutionRequest { Name = name }, deadline: DateTime.UtcNow + WaitLimit);
        Assert.Equal(name, (await NextAsync(wait.ResponseStream)).Name);
        var worker = await f.RegisterAsync("w1");
        var lease = await f.LeaseAsync(worker);
        await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = worker, OperationName = name, Attempt = lease.Attempt, Result = ResultFor("r") });
        var done = await ReadUntilDoneAsync(wait.ResponseStream);
        Assert.Equal(ResultFor("r"), Response(done).Result);

        var missing = await Assert.ThrowsAsync<RpcException>(() => f.Rpc.Operations.GetOperationAsync(new GetOperationRequest { Name = "operations/t-999999" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task CancelOperation_ends_the_stream_cancelled_and_reaches_the_workers_heartbeat()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("long");
        var worker = await f.RegisterAsync("w1");
        using var call = f.Execute(action);
        var lease = await f.LeaseAsync(worker);
        Assert.Empty((await f.HeartbeatAsync(worker, "1", lease)).Cancel);

        await f.Rpc.Operations.CancelOperationAsync(new CancelOperationRequest { Name = lease.OperationName });
        var done = await ReadUntilDoneAsync(call.ResponseStream);
        Assert.Equal((int)StatusCode.Cancelled, Response(done).Status.Code);

        var beat = await f.HeartbeatAsync(worker, "1", lease);
        var cancel = Assert.Single(beat.Cancel);
        Assert.Equal(lease.OperationName, cancel.OperationName);
        Assert.Equal(lease.Attempt, cancel.Attempt);
        Assert.False(beat.RegisterAgain);

        // Its late result is refused: the operation already finished.
        var late = await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = worker, OperationName = lease.OperationName, Attempt = lease.Attempt, Result = ResultFor("late") });
        Assert.False(late.Accepted);
    }

    [Fact]
    public async Task A_worker_that_stops_beating_is_declared_dead_and_its_lease_goes_to_another_worker()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("orphan");
        var silent = await f.RegisterAsync("w-silent");
        using var call = f.Execute(action);
        var first = await f.LeaseAsync(silent);
        var alive = await f.RegisterAsync("w-alive");

        // Within the TTL (10 s) nobody is judged; the live worker beats every few seconds.
        f.Advance(TimeSpan.FromSeconds(6));
        await f.HeartbeatAsync(alive);
        Assert.NotNull(f.State.FindWorker(silent));
        f.Advance(TimeSpan.FromSeconds(6));
        await f.HeartbeatAsync(alive);
        await UntilAsync(() => f.State.FindWorker(silent) is null, "the silent worker to be declared dead");
        Assert.NotNull(f.State.FindWorker(alive));

        // Requeued with attempt 2 after its backoff, then placed on the live worker.
        var requeued = f.State.FindOperation(first.OperationName)!;
        Assert.Equal(2u, requeued.Attempt);
        f.Advance(TimeSpan.FromMilliseconds(f.Frontend.Options.RetryBackoffBaseMs));
        var second = await f.LeaseAsync(alive);
        Assert.Equal(first.OperationName, second.OperationName);
        Assert.Equal(2u, second.Attempt);

        // The dead worker is told to re-register and to stop what it ran.
        var told = await f.HeartbeatAsync(silent, "1", first);
        Assert.True(told.RegisterAgain);
        Assert.Equal(first.OperationName, Assert.Single(told.Cancel).OperationName);
        Assert.Empty((await f.HeartbeatAsync(alive, "1", second)).Cancel);
        Assert.True((await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = alive, OperationName = second.OperationName, Attempt = 2, Result = ResultFor("y") })).Accepted);
        Assert.Equal(ResultFor("y"), Response(await ReadUntilDoneAsync(call.ResponseStream)).Result);
    }

    [Fact]
    public async Task A_slow_worker_declared_dead_whose_result_arrives_first_wins_and_the_retry_is_told_to_stop()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("slow");
        var slow = await f.RegisterAsync("w-slow");
        using var call = f.Execute(action);
        var first = await f.LeaseAsync(slow);
        var other = await f.RegisterAsync("w-other");
        f.Advance(TimeSpan.FromSeconds(6));
        await f.HeartbeatAsync(other);
        f.Advance(TimeSpan.FromSeconds(6));
        await f.HeartbeatAsync(other);
        await UntilAsync(() => f.State.FindWorker(slow) is null, "the slow worker to be declared dead");
        f.Advance(TimeSpan.FromMilliseconds(f.Frontend.Options.RetryBackoffBaseMs));
        var second = await f.LeaseAsync(other);

        Assert.True((await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = slow, OperationName = first.OperationName, Attempt = 1, Result = ResultFor("first") })).Accepted);
        Assert.Equal(ResultFor("first"), Response(await ReadUntilDoneAsync(call.ResponseStream)).Result);
        Assert.Equal(second.OperationName, Assert.Single((await f.HeartbeatAsync(other, "1", second)).Cancel).OperationName);
    }

    [Fact]
    public async Task A_failed_attempt_is_retried_after_its_backoff()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("flaky");
        var worker = await f.RegisterAsync("w1");
        using var call = f.Execute(action);
        var first = await f.LeaseAsync(worker);
        var failed = await f.Workers.FailAsync(new WorkerFailRequest { WorkerId = worker, OperationName = first.OperationName, Attempt = 1, Reason = "disk full" });
        Assert.True(failed.Accepted);
        var requeued = f.State.FindOperation(first.OperationName)!;
        Assert.Equal(OperationPhase.Queued, requeued.Phase);
        Assert.True(requeued.NotBeforeUnixMs > f.Clock.GetUtcNow().ToUnixTimeMilliseconds(), "the retry waits out a backoff");

        f.Advance(TimeSpan.FromMilliseconds(f.Frontend.Options.RetryBackoffBaseMs));
        var second = await f.LeaseAsync(worker);
        Assert.Equal(2u, second.Attempt);
    }

    [Fact]
    public async Task A_full_queue_answers_resource_exhausted_with_retry_info()
    {
        await using var f = await StartAsync(new SchedulerLimits { UnfinishedOperationsMax = 1 });
        var (first, _) = await f.PutActionAsync("first");
        var (second, _) = await f.PutActionAsync("second");
        using var admitted = f.Execute(first);
        Assert.Equal(Stage.Queued, Stage(await NextAsync(admitted.ResponseStream)));

        using var refused = f.Execute(second);
        var error = await Assert.ThrowsAsync<RpcException>(() => NextAsync(refused.ResponseStream));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        var retry = error.GetDetail<Google.Rpc.RetryInfo>();
        Assert.NotNull(retry);
        Assert.Equal(TimeSpan.FromMilliseconds(f.Frontend.Options.RetryDelayMs), retry.RetryDelay.ToTimeSpan());
    }

    [Fact]
    public async Task A_missing_input_answers_failed_precondition_naming_the_blob()
    {
        await using var f = await StartAsync();
        var (action, input) = await f.PutActionAsync("incomplete", storeInput: false);
        using var call = f.Execute(action);
        var error = await Assert.ThrowsAsync<RpcException>(() => NextAsync(call.ResponseStream));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        var failure = error.GetDetail<Google.Rpc.PreconditionFailure>();
        Assert.NotNull(failure);
        var violation = Assert.Single(failure.Violations);
        Assert.Equal("MISSING", violation.Type);
        Assert.Equal($"blobs/{input.Hash}/{input.SizeBytes}", violation.Subject);
        Assert.Empty(f.State.Operations);
    }

    private static async Task<Digest> PutActionWithPlatformAsync(FrontendFixture f, string name, params (string Name, string Value)[] properties)
    {
        var platform = new Platform();
        foreach (var (key, value) in properties)
        {
            platform.Properties.Add(new Platform.Types.Property { Name = key, Value = value });
        }

        var command = new Command { Arguments = { "/bin/echo", name } };
        var action = new Build.Bazel.Remote.Execution.V2.Action { CommandDigest = await f.PutAsync(command), InputRootDigest = await f.PutAsync(new Build.Bazel.Remote.Execution.V2.Directory()), Platform = platform };
        return await f.PutAsync(action);
    }

    [Fact]
    public async Task Resource_properties_size_the_placement_and_leave_the_platform_the_worker_must_match()
    {
        await using var f = await StartAsync();
        await f.Workers.RegisterAsync(new WorkerRegisterRequest
        {
            WorkerId = "gpu-box",
            Slots = 4,
            Incarnation = "1",
            PeerEndpoint = "gpu-box:1",
            CpuMillis = 8000,
            MemoryBytes = 16UL << 30,
            Gpus = 2,
            Platform = new Platform { Properties = { new Platform.Types.Property { Name = "OSFamily", Value = "Linux" } } },
        });
        var action = await PutActionWithPlatformAsync(f, "sized", ("OSFamily", "linux"), ("cpu", "1.5"), ("memory", "2GiB"), ("gpu", "0.5"));
        using var call = f.Execute(action);
        var queued = await NextAsync(call.ResponseStream);
        var operation = f.State.FindOperation(queued.Name)!;
        Assert.Equal(1500u, operation.Resources.CpuMillis);
        Assert.Equal(2UL << 30, operation.Resources.MemoryBytes);
        Assert.Equal(500u, operation.Resources.GpuMillis);
        Assert.Equal("OSFamily", Assert.Single(operation.Platform.Properties).Name);

        var lease = await f.LeaseAsync("gpu-box");
        Assert.Equal(queued.Name, lease.OperationName);
        Assert.Single(lease.GpuDevices);
    }

    [Fact]
    public async Task A_submit_names_its_largest_input_files_for_locality_and_leaves_small_ones_out()
    {
        await using var f = await StartAsync();
        await f.RegisterAsync("w1");
        var big = await f.PutAsync(new byte[300 * 1024]);
        var medium = await f.PutAsync(Enumerable.Repeat((byte)1, 100 * 1024).ToArray());
        var small = await f.PutAsync(new byte[1024]);
        var sub = new Build.Bazel.Remote.Execution.V2.Directory { Files = { new FileNode { Name = "m.bin", Digest = medium } } };
        var root = new Build.Bazel.Remote.Execution.V2.Directory
        {
            Files = { new FileNode { Name = "a.bin", Digest = small }, new FileNode { Name = "b.bin", Digest = big } },
            Directories = { new DirectoryNode { Name = "sub", Digest = await f.PutAsync(sub) } },
        };
        var action = await f.PutAsync(new Build.Bazel.Remote.Execution.V2.Action { CommandDigest = await f.PutAsync(new Command { Arguments = { "/bin/true" } }), InputRootDigest = await f.PutAsync(root) });
        using var call = f.Execute(action);
        var queued = await NextAsync(call.ResponseStream);
        Assert.Equal([big, medium], f.State.FindOperation(queued.Name)!.InputHints);
    }

    [Theory]
    [InlineData("w1")]
    [InlineData("w2")]
    public async Task Work_goes_to_the_worker_that_reported_holding_its_largest_input(string holder)
    {
        await using var f = await StartAsync();
        await f.RegisterAsync("w1");
        await f.RegisterAsync("w2");
        var big = await f.PutAsync(new byte[500 * 1024]);
        var root = new Build.Bazel.Remote.Execution.V2.Directory { Files = { new FileNode { Name = "big.bin", Digest = big } } };
        var action = await f.PutAsync(new Build.Bazel.Remote.Execution.V2.Action { CommandDigest = await f.PutAsync(new Command { Arguments = { "/bin/wc", "big.bin" } }), InputRootDigest = await f.PutAsync(root) });
        await f.Workers.HeartbeatAsync(new WorkerHeartbeatRequest { WorkerId = holder, Incarnation = "1", Stored = { big } });

        using var call = f.Execute(action);
        var queued = await NextAsync(call.ResponseStream);
        var lease = await f.LeaseAsync(holder);
        Assert.Equal(queued.Name, lease.OperationName);
        Assert.Equal(holder, f.State.FindOperation(queued.Name)!.Lease.WorkerId);
    }

    [Theory]
    [InlineData("gpu", "1.5", "0.1, 0.2")]
    [InlineData("gpu", "9", "1, 2, 3, 4, 5, 6, 7, 8 (whole devices)")]
    [InlineData("cpu", "two", "millicores")]
    [InlineData("memory", "1.5G", "512MiB")]
    public async Task A_resource_amount_the_server_cannot_read_is_invalid_argument_naming_what_is_allowed(string name, string value, string allowedPart)
    {
        await using var f = await StartAsync();
        await f.RegisterAsync("w1");
        var action = await PutActionWithPlatformAsync(f, "bad " + name, (name, value));
        using var call = f.Execute(action);
        var error = await Assert.ThrowsAsync<RpcException>(() => NextAsync(call.ResponseStream));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains($"{name}={value}", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(allowedPart, error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("action.platform", Assert.Single(error.GetDetail<Google.Rpc.BadRequest>()!.FieldViolations).Field);
        Assert.Empty(f.State.Operations);
    }

    [Fact]
    public async Task More_cpu_than_any_worker_has_is_failed_precondition_not_a_queue_that_never_moves()
    {
        await using var f = await StartAsync();
        await f.Workers.RegisterAsync(new WorkerRegisterRequest { WorkerId = "small", Slots = 2, Incarnation = "1", PeerEndpoint = "small:1", CpuMillis = 2000 });
        var action = await PutActionWithPlatformAsync(f, "big", ("cpu", "64"));
        using var call = f.Execute(action);
        var error = await Assert.ThrowsAsync<RpcException>(() => NextAsync(call.ResponseStream));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("cpu=64", error.Status.Detail, StringComparison.Ordinal);
        Assert.Empty(f.State.Operations);
    }

    [Fact]
    public async Task A_lease_poll_without_work_answers_empty_when_its_wait_is_over()
    {
        await using var f = await StartAsync();
        var worker = await f.RegisterAsync("w1");
        var poll = f.Workers.LeaseAsync(new WorkerLeaseRequest { WorkerId = worker, FreeSlots = 1, WaitMs = 1_000 }, deadline: DateTime.UtcNow + WaitLimit).ResponseAsync;

        // The head's clock moves only when told; move it until the poll gives up (it may not be waiting yet at first).
        for (var step = 0; step < 1_000 && !poll.IsCompleted; step++)
        {
            f.Advance(TimeSpan.FromMilliseconds(100));
            await Task.WhenAny(poll, Task.Delay(10));
        }

        Assert.Empty((await poll).Leases);
        Assert.Empty(f.State.Operations);
    }

    [Fact]
    public async Task WhereIs_names_the_peers_whose_heartbeats_said_they_hold_a_blob()
    {
        await using var f = await StartAsync();
        var holder = await f.RegisterAsync("w1");
        var asker = await f.RegisterAsync("w2");
        var blob = Digests.Compute(System.Text.Encoding.UTF8.GetBytes("a blob"));
        await f.Workers.HeartbeatAsync(new WorkerHeartbeatRequest { WorkerId = holder, Incarnation = "1", Stored = { blob } });

        var found = await f.Workers.WhereIsAsync(new WhereIsRequest { Digest = blob, ExcludeWorkerId = asker });
        Assert.Equal(["w1:1"], found.PeerEndpoints);
        Assert.Empty((await f.Workers.WhereIsAsync(new WhereIsRequest { Digest = blob, ExcludeWorkerId = holder })).PeerEndpoints);

        await f.Workers.HeartbeatAsync(new WorkerHeartbeatRequest { WorkerId = holder, Incarnation = "1", Evicted = { blob } });
        Assert.Empty((await f.Workers.WhereIsAsync(new WhereIsRequest { Digest = blob, ExcludeWorkerId = asker })).PeerEndpoints);
    }

    [Fact]
    public async Task Retire_removes_an_idle_worker()
    {
        await using var f = await StartAsync();
        var worker = await f.RegisterAsync("w1");
        Assert.True((await f.Workers.RetireAsync(new WorkerRetireRequest { WorkerId = worker })).Removed);
        Assert.Null(f.State.FindWorker(worker));
    }

    [Fact]
    public async Task A_heartbeat_from_an_unknown_worker_or_another_incarnation_asks_it_to_register_again()
    {
        await using var f = await StartAsync();
        Assert.True((await f.HeartbeatAsync("stranger")).RegisterAgain);
        var worker = await f.RegisterAsync("w1", incarnation: "a");
        Assert.False((await f.HeartbeatAsync(worker, "a")).RegisterAgain);
        Assert.True((await f.HeartbeatAsync(worker, "b")).RegisterAgain);
    }

    [Fact]
    public async Task A_restarted_worker_registering_again_requeues_what_its_old_process_ran()
    {
        await using var f = await StartAsync();
        var (action, _) = await f.PutActionAsync("interrupted");
        var worker = await f.RegisterAsync("w1", incarnation: "a");
        using var call = f.Execute(action);
        var first = await f.LeaseAsync(worker);

        await f.RegisterAsync(worker, incarnation: "b");
        Assert.Equal(2u, f.State.FindOperation(first.OperationName)!.Attempt);
        f.Advance(TimeSpan.FromSeconds(1));
        var again = await f.LeaseAsync(worker);
        Assert.Equal(first.OperationName, again.OperationName);
        Assert.Equal(2u, again.Attempt);
    }

    [Fact]
    public async Task Finished_operations_are_pruned_after_retention()
    {
        await using var f = await StartAsync(options: new FrontendOptions { OperationNameSeed = "t", StreamKeepAliveMs = 0, FinishedRetentionMs = 60_000, HeartbeatTtlMs = 600_000 });
        var (action, _) = await f.PutActionAsync("short-lived", doNotCache: true);
        var worker = await f.RegisterAsync("w1");
        using var call = f.Execute(action);
        var lease = await f.LeaseAsync(worker);
        await f.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = worker, OperationName = lease.OperationName, Attempt = 1, Result = ResultFor("p") });
        await ReadUntilDoneAsync(call.ResponseStream);

        f.Advance(TimeSpan.FromSeconds(30));
        Assert.NotNull((await f.Rpc.Operations.GetOperationAsync(new GetOperationRequest { Name = lease.OperationName })).Name);
        f.Advance(TimeSpan.FromSeconds(31));
        await UntilAsync(() => f.State.FindOperation(lease.OperationName) is null, "the finished operation to be pruned");
        var gone = await Assert.ThrowsAsync<RpcException>(() => f.Rpc.Operations.GetOperationAsync(new GetOperationRequest { Name = lease.OperationName }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
    }
}
