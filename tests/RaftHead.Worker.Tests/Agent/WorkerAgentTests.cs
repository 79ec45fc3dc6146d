using System.Diagnostics;
using System.Text;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.Runner;
using RaftHead.Storage.Remote;
using RaftHead.Testing;
using RaftHead.Worker.Agent;

namespace RaftHead.Worker.Tests.Agent;

public sealed class WorkerAgentTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_leased_action_runs_its_outputs_reach_the_head_and_Complete_carries_its_result()
    {
        await using var bed = await AgentTestBed.StartAsync();
        var lease = await bed.EnqueueAsync(RunnerFixture.Shell("mkdir -p out && printf hello > out/greeting && echo to-stdout", "out/greeting"));

        var complete = await TestServers.NextAsync(bed.Fake.Completions, Deadline);

        Assert.Equal(lease.OperationName, complete.OperationName);
        Assert.Equal(lease.Attempt, complete.Attempt);
        Assert.Equal(bed.Agent.WorkerId, complete.WorkerId);
        Assert.Equal((int)StatusCode.OK, complete.Status.Code);
        Assert.Equal(0, complete.Result.ExitCode);
        var file = Assert.Single(complete.Result.OutputFiles);
        Assert.Equal("out/greeting", file.Path);
        Assert.Equal(Digests.Compute("hello"u8), file.Digest);
        // Complete is sent only once the outputs are on the head.
        Assert.Equal("hello", Encoding.UTF8.GetString(await bed.ReadFromHeadAsync(file.Digest) ?? Array.Empty<byte>()));
        Assert.Equal("to-stdout\n", Encoding.UTF8.GetString(await bed.ReadFromHeadAsync(complete.Result.StdoutDigest) ?? Array.Empty<byte>()));

        var registration = Assert.Single(bed.Fake.Registrations);
        Assert.Equal(bed.Agent.WorkerId, registration.WorkerId);
        Assert.Equal(bed.Agent.Incarnation, registration.Incarnation);
        Assert.Equal(2u, registration.Slots);
        Assert.Contains(registration.Platform.Properties, p => p.Name == "OSFamily" && p.Value == "linux");
        Assert.Equal(0, bed.Fake.Failures.Reader.Count);
    }

    [Fact]
    public async Task A_lease_carrying_its_Action_and_Command_runs_without_reading_them()
    {
        await using var bed = await AgentTestBed.StartAsync();
        await bed.EnqueueInlineAsync(RunnerFixture.Shell("echo inline"));

        var complete = await TestServers.NextAsync(bed.Fake.Completions, Deadline);

        Assert.Equal((int)StatusCode.OK, complete.Status.Code);
        Assert.Equal("inline\n", Encoding.UTF8.GetString(await bed.ReadFromHeadAsync(complete.Result.StdoutDigest) ?? Array.Empty<byte>()));
    }

    [Fact]
    public async Task Inline_bytes_that_are_not_the_digest_named_are_ignored_for_the_CAS_copy()
    {
        await using var bed = await AgentTestBed.StartAsync();
        await bed.EnqueueInlineAsync(RunnerFixture.Shell("echo stored"), sentCommand: RunnerFixture.Shell("echo forged"), storeCommand: true);

        var complete = await TestServers.NextAsync(bed.Fake.Completions, Deadline);

        Assert.Equal((int)StatusCode.OK, complete.Status.Code);
        Assert.Equal("stored\n", Encoding.UTF8.GetString(await bed.ReadFromHeadAsync(complete.Result.StdoutDigest) ?? Array.Empty<byte>()));
    }

    [Fact]
    public async Task A_non_zero_exit_is_a_result_not_a_failure()
    {
        await using var bed = await AgentTestBed.StartAsync();
        await bed.EnqueueAsync(RunnerFixture.Shell("echo broken >&2; exit 3"));

        var complete = await TestServers.NextAsync(bed.Fake.Completions, Deadline);

        Assert.Equal((int)StatusCode.OK, complete.Status.Code);
        Assert.Equal(3, complete.Result.ExitCode);
        Assert.Equal("broken\n", Encoding.UTF8.GetString(await bed.ReadFromHeadAsync(complete.Result.StderrDigest) ?? Array.Empty<byte>()));
    }

    [Fact]
    public async Task A_result_the_head_cannot_take_yet_is_reported_again_until_it_is_taken()
    {
        await using var bed = await AgentTestBed.StartAsync();
        bed.Fake.CompletionsToRefuse = 2;
        var lease = await bed.EnqueueAsync(RunnerFixture.Shell("echo kept"));

        var complete = await TestServers.NextAsync(bed.Fake.Completions, Deadline);

        Assert.Equal(2, bed.Fake.CompletionsRefused);
        Assert.Equal(lease.OperationName, complete.OperationName);
        Assert.Equal("kept\n", Encoding.UTF8.GetString(await bed.ReadFromHeadAsync(complete.Result.StdoutDigest) ?? Array.Empty<byte>()));
        Assert.Equal(0, bed.Fake.Failures.Reader.Count);
    }

    [Fact]
    public async Task A_runner_error_is_reported_with_Fail_and_its_reason()
    {
        await using var bed = await AgentTestBed.StartAsync(runnerFactory: _ => new ThrowingRunner("the sandbox pool is exhausted"));
        var lease = await bed.EnqueueAsync(RunnerFixture.Shell("true"));

        var fail = await TestServers.NextAsync(bed.Fake.Failures, Deadline);

        Assert.Equal(lease.OperationName, fail.OperationName);
        Assert.Equal(lease.Attempt, fail.Attempt);
        Assert.Equal(bed.Agent.WorkerId, fail.WorkerId);
        Assert.Equal("the sandbox pool is exhausted", fail.Reason);
        Assert.Equal(0, bed.Fake.Completions.Reader.Count);
    }

    [Fact]
    public async Task A_lease_handed_out_again_after_it_ran_does_not_run_again()
    {
        // As a replica or a new leader that has not applied the first run's end does: its record of handed-out leases is its own.
        await using var bed = await AgentTestBed.StartAsync(slots: 1);
        var lease = await bed.EnqueueAsync(RunnerFixture.Shell("true"));
        Assert.Equal(lease.OperationName, (await TestServers.NextAsync(bed.Fake.Completions, Deadline)).OperationName);

        bed.Fake.Pending.Writer.TryWrite(lease);
        var next = await bed.EnqueueAsync(RunnerFixture.Shell("true"));

        // One slot takes leases in order: had the repeat run, its Complete would come first.
        Assert.Equal(next.OperationName, (await TestServers.NextAsync(bed.Fake.Completions, Deadline)).OperationName);
        Assert.Equal(0, bed.Fake.Failures.Reader.Count);
    }

    [Fact]
    public async Task A_lease_the_heartbeat_cancels_has_its_process_killed_at_once()
    {
        await using var bed = await AgentTestBed.StartAsync();
        var marker = $"60.{Random.Shared.Next(100_000, 999_999)}";
        var lease = await bed.EnqueueAsync(RunnerFixture.Shell($"exec sleep {marker}"));
        int pid = 0;
        await TestServers.EventuallyAsync(() => (pid = FindProcess("sleep", marker)) != 0, Deadline, "the action's sleep starting");
        await TestServers.EventuallyAsync(() => bed.Fake.LastRunning.Any(r => r.OperationName == lease.OperationName), Deadline, "a heartbeat listing the lease");

        var cancelled = Stopwatch.StartNew();
        bed.Fake.ToCancel[(lease.OperationName, lease.Attempt)] = true;
        await TestServers.EventuallyAsync(() => !Directory.Exists($"/proc/{pid}") || IsZombie(pid), Deadline, "the sleep being killed");
        cancelled.Stop();
        await TestServers.EventuallyAsync(() => bed.Agent.RunningCount == 0, Deadline, "the run ending");

        // Far below the 60 s the action would have slept; the heartbeat interval is 50 ms.
        Assert.True(cancelled.Elapsed < TimeSpan.FromSeconds(5), $"killed after {cancelled.Elapsed}");
        Assert.Equal(0, bed.Fake.Completions.Reader.Count);
        Assert.Equal(0, bed.Fake.Failures.Reader.Count);
    }

    [Fact]
    public async Task A_stop_from_the_head_for_a_run_that_ended_after_the_heartbeat_found_it_is_a_no_op()
    {
        // The interleaving: the heartbeat finds the run held, the run ends and disposes its source, then the head's stop.
        var source = new CancellationTokenSource();
        var run = new WorkerAgent.Run(source, assignedIndex: 7);
        source.Dispose();

        // This threw ObjectDisposedException, which ended the heartbeat loop for good: the heads then declared the
        // worker dead every TTL while it went on leasing.
        await run.StopByHeadAsync();

        Assert.True(run.CancelledByHead);
    }

    [Fact]
    public async Task A_stop_from_the_head_cancels_a_run_still_going()
    {
        using var source = new CancellationTokenSource();
        var run = new WorkerAgent.Run(source, assignedIndex: 7);

        await run.StopByHeadAsync();

        Assert.True(run.CancelledByHead);
        Assert.True(source.IsCancellationRequested);
    }

    [Fact]
    public async Task The_worker_moves_to_the_next_head_when_the_first_is_down()
    {
        var dead = TestServers.DeadEndpoint();
        await using var bed = await AgentTestBed.StartAsync(before: new[] { dead });

        Assert.Single(bed.Fake.Registrations);
        Assert.Equal(TestServers.Endpoint(bed.Server), bed.WorkerHeads.Current);
        await bed.EnqueueAsync(RunnerFixture.Shell("echo ok"));
        var complete = await TestServers.NextAsync(bed.Fake.Completions, Deadline);
        Assert.Equal(0, complete.Result.ExitCode);
    }

    [Fact]
    public async Task A_head_that_names_the_leader_sends_the_worker_there()
    {
        // The leader is reachable only through the hint: the list holds a follower and a dead head.
        var fake = new FakeWorkerProtocol();
        await using var leader = await TestServers.StartAsync(fake);
        var follower = new NotLeaderWorkerProtocol(TestServers.Endpoint(leader));
        await using var followerServer = await TestServers.StartAsync(follower);
        using var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        var heads = new HeadConnection(new[] { TestServers.Endpoint(followerServer), TestServers.DeadEndpoint() }, channels, new HeadConnectionOptions { UnavailableBudgetMs = 2_000 });
        using var data = new TempDirectory("rh-agent-test-");
        await using var agent = new WorkerAgent(new WorkerAgentOptions { DataDirectory = data.Path, Slots = 1 }, heads, new ThrowingRunner("unused"), new RemoteBlobStore(heads));

        await agent.StartAsync(CancellationToken.None);

        Assert.Equal(1, follower.Calls);
        Assert.Single(fake.Registrations);
        Assert.Equal(TestServers.Endpoint(leader), heads.Current);
    }

    [Fact]
    public async Task With_no_head_answering_start_fails_within_the_budget()
    {
        using var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        var heads = new HeadConnection(new[] { TestServers.DeadEndpoint(), TestServers.DeadEndpoint() }, channels, new HeadConnectionOptions { UnavailableBudgetMs = 500 });
        using var data = new TempDirectory("rh-agent-test-");
        await using var agent = new WorkerAgent(new WorkerAgentOptions { DataDirectory = data.Path, Slots = 1 }, heads, new ThrowingRunner("unused"), new RemoteBlobStore(heads));

        var started = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<HeadsUnavailableException>(() => agent.StartAsync(CancellationToken.None));

        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10));
        Assert.Contains("no head of", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_kills_work_still_running_after_the_grace_and_reports_it_failed()
    {
        await using var bed = await AgentTestBed.StartAsync(stopGraceMs: 200);
        var marker = $"60.{Random.Shared.Next(100_000, 999_999)}";
        var lease = await bed.EnqueueAsync(RunnerFixture.Shell($"exec sleep {marker}"));
        int pid = 0;
        await TestServers.EventuallyAsync(() => (pid = FindProcess("sleep", marker)) != 0, Deadline, "the action's sleep starting");

        await bed.Agent.StopAsync(CancellationToken.None);

        var fail = await TestServers.NextAsync(bed.Fake.Failures, Deadline);
        Assert.Equal(lease.OperationName, fail.OperationName);
        Assert.Contains("stopped", fail.Reason, StringComparison.Ordinal);
        Assert.True(!Directory.Exists($"/proc/{pid}") || IsZombie(pid), "the action outlived the worker's stop");
        Assert.True(bed.Agent.Completion.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task Stopping_lets_running_work_finish_within_the_grace_and_leases_no_more()
    {
        // Without lease-ahead, so the second lease stays with the head until the stop (LeaseAheadTests cover the queue).
        await using var bed = await AgentTestBed.StartAsync(slots: 1, stopGraceMs: 20_000, leaseAhead: 0);
        var marker = $"2.{Random.Shared.Next(100_000, 999_999)}";
        var lease = await bed.EnqueueAsync(RunnerFixture.Shell($"sleep {marker}; echo finished"));
        await TestServers.EventuallyAsync(() => FindProcess("sleep", marker) != 0, Deadline, "the action's sleep starting");
        var queuedAfterStop = await bed.EnqueueAsync(RunnerFixture.Shell("echo never"));

        await bed.Agent.StopAsync(CancellationToken.None);

        var complete = await TestServers.NextAsync(bed.Fake.Completions, Deadline);
        Assert.Equal(lease.OperationName, complete.OperationName);
        Assert.Equal(0, complete.Result.ExitCode);
        Assert.Equal("finished\n", Encoding.UTF8.GetString(await bed.ReadFromHeadAsync(complete.Result.StdoutDigest) ?? Array.Empty<byte>()));
        Assert.Equal(0, bed.Fake.Failures.Reader.Count);
        Assert.Equal(0, bed.Fake.Completions.Reader.Count);
        Assert.True(bed.Fake.Pending.Reader.TryRead(out var left) && left.OperationName == queuedAfterStop.OperationName, "a lease was taken after the stop");
    }

    [Fact]
    public void The_worker_id_survives_a_restart_and_the_incarnation_does_not()
    {
        using var data = new TempDirectory("rh-agent-test-");
        var first = WorkerIdentity.LoadOrCreate(data.Path);
        var again = WorkerIdentity.LoadOrCreate(data.Path);
        using var other = new TempDirectory("rh-agent-test-");

        Assert.Equal(first, again);
        Assert.NotEqual(first, WorkerIdentity.LoadOrCreate(other.Path));
        Assert.NotEqual(WorkerIdentity.NewIncarnation(), WorkerIdentity.NewIncarnation());
    }

    /// <summary>The pid of a process whose command line is exactly <paramref name="program"/> <paramref name="argument"/>, or 0.</summary>
    private static int FindProcess(string program, string argument)
    {
        var wanted = program + "\0" + argument + "\0";
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (cmdline.EndsWith(wanted, StringComparison.Ordinal) && Path.GetFileName(cmdline.Split('\0')[0]) == program)
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return 0;
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }

    private sealed class ThrowingRunner(string message) : IActionRunner
    {
        public Task<ActionRunResult> RunAsync(ActionRunRequest request, CancellationToken cancellationToken) =>
            Task.FromException<ActionRunResult>(new InvalidOperationException(message));
    }
}
