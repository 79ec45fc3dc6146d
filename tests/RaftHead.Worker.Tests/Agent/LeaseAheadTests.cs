using System.Threading.Channels;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol.Runner;

namespace RaftHead.Worker.Tests.Agent;

/// <summary>
/// A worker holding leases beyond its slots: it runs at most its slots at once, starts queued leases first in first
/// out as slots free, lists them in heartbeats, drops one the head cancels, and hands the queue back on stop.
/// </summary>
public sealed class LeaseAheadTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_worker_never_runs_more_than_its_slots_while_it_holds_leases_ahead()
    {
        var runner = new GatedRunner();
        await using var bed = await AgentTestBed.StartAsync(runnerFactory: _ => runner, slots: 2, leaseAhead: 2);
        for (var i = 0; i < 6; i++)
        {
            await bed.EnqueueAsync(RunnerFixture.Shell($"echo {i}"));
        }

        var running = new List<GatedRunner.Run> { await TestServers.NextAsync(runner.Started, Deadline), await TestServers.NextAsync(runner.Started, Deadline) };
        await TestServers.EventuallyAsync(() => bed.Agent.QueuedCount == 2, Deadline, "two leases queued behind the full slots");
        await TestServers.EventuallyAsync(() => bed.Fake.LastRunning.Count == 4, Deadline, "a heartbeat listing the running and the queued leases");

        Assert.Equal(2, bed.Agent.RunningCount);
        Assert.Equal(2, runner.MostAtOnce);
        // Four held (two running, two ahead); the other two are still the head's to give.
        Assert.Equal(2, bed.Fake.Pending.Reader.Count);

        // Each run that ends starts exactly one more; the freed holder leases the next.
        for (var finished = 0; finished < 6; finished++)
        {
            running[0].Finish();
            running.RemoveAt(0);
            await TestServers.NextAsync(bed.Fake.Completions, Deadline);
            if (finished < 4)
            {
                running.Add(await TestServers.NextAsync(runner.Started, Deadline));
            }
        }

        Assert.Equal(2, runner.MostAtOnce);
        Assert.Equal(6, runner.Calls);
        Assert.Equal(0, bed.Fake.Failures.Reader.Count);
    }

    [Fact]
    public async Task Queued_leases_start_in_the_order_they_were_leased()
    {
        var runner = new GatedRunner();
        await using var bed = await AgentTestBed.StartAsync(runnerFactory: _ => runner, slots: 1, leaseAhead: 2);
        await bed.EnqueueAsync(RunnerFixture.Shell("echo a"));
        var a = await TestServers.NextAsync(runner.Started, Deadline);
        var b = await bed.EnqueueAsync(RunnerFixture.Shell("echo b"));
        await TestServers.EventuallyAsync(() => bed.Agent.QueuedCount == 1, Deadline, "b queued");
        var c = await bed.EnqueueAsync(RunnerFixture.Shell("echo c"));
        await TestServers.EventuallyAsync(() => bed.Agent.QueuedCount == 2, Deadline, "c queued");

        a.Finish();
        var second = await TestServers.NextAsync(runner.Started, Deadline);
        Assert.Equal(b.ActionDigest, second.Request.ActionDigest);
        Assert.Equal(1, bed.Agent.QueuedCount);
        second.Finish();
        var third = await TestServers.NextAsync(runner.Started, Deadline);
        Assert.Equal(c.ActionDigest, third.Request.ActionDigest);
        third.Finish();
        for (var i = 0; i < 3; i++)
        {
            await TestServers.NextAsync(bed.Fake.Completions, Deadline);
        }

        Assert.Equal(1, runner.MostAtOnce);
    }

    [Fact]
    public async Task A_queued_lease_the_head_cancels_never_runs_and_is_not_reported()
    {
        var runner = new GatedRunner();
        await using var bed = await AgentTestBed.StartAsync(runnerFactory: _ => runner, slots: 1, leaseAhead: 1);
        var a = await bed.EnqueueAsync(RunnerFixture.Shell("echo a"));
        var running = await TestServers.NextAsync(runner.Started, Deadline);
        var b = await bed.EnqueueAsync(RunnerFixture.Shell("echo b"));
        await TestServers.EventuallyAsync(() => bed.Fake.LastRunning.Any(r => r.OperationName == b.OperationName), Deadline, "a heartbeat listing the queued lease");

        bed.Fake.ToCancel[(b.OperationName, b.Attempt)] = true;
        await TestServers.EventuallyAsync(() => bed.Agent.QueuedCount == 0, Deadline, "the cancelled lease leaving the queue");
        await TestServers.EventuallyAsync(() => bed.Fake.LastRunning.All(r => r.OperationName != b.OperationName), Deadline, "heartbeats no longer listing it");
        running.Finish();
        Assert.Equal(a.OperationName, (await TestServers.NextAsync(bed.Fake.Completions, Deadline)).OperationName);

        // The slot goes to the next lease, not to the cancelled one.
        var c = await bed.EnqueueAsync(RunnerFixture.Shell("echo c"));
        var next = await TestServers.NextAsync(runner.Started, Deadline);
        Assert.Equal(c.ActionDigest, next.Request.ActionDigest);
        next.Finish();
        Assert.Equal(c.OperationName, (await TestServers.NextAsync(bed.Fake.Completions, Deadline)).OperationName);
        Assert.Equal(2, runner.Calls);
        Assert.Equal(0, bed.Fake.Failures.Reader.Count);
    }

    [Fact]
    public async Task Stopping_hands_back_queued_leases_failed_at_once_and_lets_the_running_one_finish()
    {
        var runner = new GatedRunner();
        await using var bed = await AgentTestBed.StartAsync(runnerFactory: _ => runner, slots: 1, leaseAhead: 1, stopGraceMs: 20_000);
        var a = await bed.EnqueueAsync(RunnerFixture.Shell("echo a"));
        var running = await TestServers.NextAsync(runner.Started, Deadline);
        var b = await bed.EnqueueAsync(RunnerFixture.Shell("echo b"));
        await TestServers.EventuallyAsync(() => bed.Agent.QueuedCount == 1, Deadline, "b queued");

        var stopping = bed.Agent.StopAsync(CancellationToken.None);

        // Handed back while a still runs, so the heads can place it elsewhere instead of waiting out the grace.
        var fail = await TestServers.NextAsync(bed.Fake.Failures, Deadline);
        Assert.Equal(b.OperationName, fail.OperationName);
        Assert.Contains("before the action started", fail.Reason, StringComparison.Ordinal);
        Assert.False(stopping.IsCompleted);

        running.Finish();
        await stopping.WaitAsync(Deadline);
        Assert.Equal(a.OperationName, (await TestServers.NextAsync(bed.Fake.Completions, Deadline)).OperationName);
        Assert.Equal(1, runner.Calls);
        Assert.Equal(0, bed.Fake.Failures.Reader.Count);
    }

    [Fact]
    public async Task The_registration_declares_the_lease_ahead_one_per_slot_unless_told()
    {
        await using (var bed = await AgentTestBed.StartAsync(slots: 3))
        {
            Assert.Equal(3u, Assert.Single(bed.Fake.Registrations).LeaseAhead);
        }

        await using (var none = await AgentTestBed.StartAsync(slots: 3, leaseAhead: 0))
        {
            Assert.Equal(0u, Assert.Single(none.Fake.Registrations).LeaseAhead);
        }
    }

    /// <summary>A runner whose runs end only when the test says, counting how many ran at once.</summary>
    private sealed class GatedRunner : IActionRunner
    {
        private int _running;
        private int _most;
        private int _calls;

        public Channel<Run> Started { get; } = Channel.CreateUnbounded<Run>();

        public int MostAtOnce => Volatile.Read(ref _most);

        public int Calls => Volatile.Read(ref _calls);

        public async Task<ActionRunResult> RunAsync(ActionRunRequest request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            var now = Interlocked.Increment(ref _running);
            int most;
            while (now > (most = Volatile.Read(ref _most)) && Interlocked.CompareExchange(ref _most, now, most) != most)
            {
            }

            try
            {
                var run = new Run(request);
                Started.Writer.TryWrite(run);
                await run.Done.Task.WaitAsync(cancellationToken);
                return new ActionRunResult(new ActionResult(), new Google.Rpc.Status());
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        }

        internal sealed class Run(ActionRunRequest request)
        {
            public ActionRunRequest Request { get; } = request;

            public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public void Finish() => Done.SetResult();
        }
    }
}
