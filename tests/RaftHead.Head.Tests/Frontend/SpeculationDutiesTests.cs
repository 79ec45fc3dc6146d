using Microsoft.Extensions.Time.Testing;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Testing;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Frontend;

/// <summary>
/// The leader's straggler duty pass by pass, over a log that applies at once, with a manual clock: which runs get a
/// speculative clone, where, and when not.
/// </summary>
public sealed class SpeculationDutiesTests
{
    [Fact]
    public async Task A_run_past_twice_its_class_median_and_the_floor_gets_one_clone_on_an_idle_worker()
    {
        await using var h = await Harness.StartAsync();
        await h.HistoryAsync("cc", runMs: 1_000, runs: 3);
        var straggler = await h.StartAsync("slow", "cc", "straggler");

        h.Clock.Advance(TimeSpan.FromMilliseconds(1_900));
        await h.PassAsync();
        Assert.Null(h.Operation(straggler).CloneLease);

        // The duty looks again within its interval (250 ms) of the run crossing the threshold.
        h.Clock.Advance(TimeSpan.FromMilliseconds(300));
        await h.PassAsync();
        var cloned = h.Operation(straggler);
        Assert.Equal("idle", cloned.CloneLease.WorkerId);
        Assert.True(cloned.Attempts[^1].Speculative);

        h.Clock.Advance(TimeSpan.FromSeconds(10));
        await h.PassAsync();
        Assert.Equal(cloned.Attempts.Count, h.Operation(straggler).Attempts.Count);
    }

    [Fact]
    public async Task The_threshold_is_the_median_multiple_when_that_is_above_the_floor()
    {
        await using var h = await Harness.StartAsync();
        await h.HistoryAsync("cc", runMs: 5_000, runs: 3);
        var straggler = await h.StartAsync("slow", "cc", "straggler");

        h.Clock.Advance(TimeSpan.FromMilliseconds(9_900));
        await h.PassAsync();
        Assert.Null(h.Operation(straggler).CloneLease);

        h.Clock.Advance(TimeSpan.FromMilliseconds(300));
        await h.PassAsync();
        Assert.NotNull(h.Operation(straggler).CloneLease);
    }

    [Fact]
    public async Task No_clone_without_history_while_work_waits_or_without_an_idle_slot()
    {
        await using var h = await Harness.StartAsync();
        var unknown = await h.StartAsync("slow", "never-seen", "unknown");
        h.Clock.Advance(TimeSpan.FromMinutes(1));
        await h.PassAsync();
        Assert.Null(h.Operation(unknown).CloneLease);

        await h.HistoryAsync("cc", runMs: 100, runs: 3);
        await h.Log.ProposeAsync(Cancel(unknown, at: h.NowUnixMs), CancellationToken.None);
        var straggler = await h.StartAsync("slow", "cc", "straggler");

        // Work waiting for a slot: the idle worker's slot is for it, not for a second run.
        await h.Log.ProposeAsync(Submit("queued", action: "queued", platform: Platform("os=other"), at: h.NowUnixMs), CancellationToken.None);
        h.Clock.Advance(TimeSpan.FromSeconds(5));
        await h.PassAsync();
        Assert.Null(h.Operation(straggler).CloneLease);

        await h.Log.ProposeAsync(Cancel(h.Log.Current.FindOperationByRequest("queued")!.Name, at: h.NowUnixMs), CancellationToken.None);
        var busy = await h.StartAsync("idle", "other", "busy");
        h.Clock.Advance(TimeSpan.FromMilliseconds(300));
        await h.PassAsync();
        Assert.Null(h.Operation(straggler).CloneLease);

        // The duty looks by the clock, within its interval of the slot coming free.
        await h.Log.ProposeAsync(Complete(busy, "idle", at: h.NowUnixMs), CancellationToken.None);
        h.Clock.Advance(TimeSpan.FromMilliseconds(300));
        await h.PassAsync();
        Assert.NotNull(h.Operation(straggler).CloneLease);
    }

    [Fact]
    public async Task An_instance_may_turn_speculation_off_or_tighten_it()
    {
        var byInstance = new Dictionary<string, SpeculationOptions>(StringComparer.Ordinal)
        {
            ["off"] = new SpeculationOptions { Enabled = false },
            ["eager"] = new SpeculationOptions { FloorMs = 100, MedianMultiple = 1.5 },
        };
        await using var h = await Harness.StartAsync(new FrontendOptions { SpeculationByInstance = byInstance }, idleWorkers: 2);
        await h.HistoryAsync("cc", runMs: 200, runs: 3, instance: "off");
        await h.HistoryAsync("cc", runMs: 200, runs: 3, instance: "eager");
        var off = await h.StartAsync("slow", "cc", "off-run", instance: "off");
        var eager = await h.StartAsync("idle", "cc", "eager-run", instance: "eager");

        h.Clock.Advance(TimeSpan.FromMilliseconds(350));
        await h.PassAsync();

        Assert.NotNull(h.Operation(eager).CloneLease);
        Assert.Null(h.Operation(off).CloneLease);
    }

    [Fact]
    public async Task A_new_leader_rebuilds_the_statistics_from_the_log_and_never_clones_twice()
    {
        await using var h = await Harness.StartAsync(idleWorkers: 3);
        await h.HistoryAsync("cc", runMs: 500, runs: 3);
        var straggler = await h.StartAsync("slow", "cc", "straggler");
        h.Clock.Advance(TimeSpan.FromSeconds(3));
        await h.PassAsync();
        var clone = h.Operation(straggler).CloneLease.WorkerId;

        h.Log.Leader = new LeaderInfo(false, 2, "127.0.0.1:8981", 2);
        await h.PassAsync();
        h.Log.Leader = new LeaderInfo(true, 3, null, 3);
        var other = await h.StartAsync("idle2", "cc", "second");
        h.Clock.Advance(TimeSpan.FromSeconds(3));
        await h.PassAsync();

        Assert.Equal(clone, h.Operation(straggler).CloneLease.WorkerId);
        Assert.Equal(2, h.Operation(straggler).Attempts.Count);
        Assert.Equal("idle3", h.Operation(other).CloneLease.WorkerId);
    }

    [Fact]
    public async Task A_sampled_completion_is_run_once_more_to_compare_and_only_once()
    {
        await using var h = await Harness.StartAsync(new FrontendOptions { Speculation = new SpeculationOptions { VerifySampleRate = 1.0 } });
        var op = await h.StartAsync("slow", "cc", "checked");
        await h.Log.ProposeAsync(Complete(op, "slow", at: h.NowUnixMs), CancellationToken.None);

        await h.PassAsync();
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        await h.PassAsync();

        var verification = h.Log.Current.FindOperationByRequest("verify/" + op);
        Assert.NotNull(verification);
        Assert.Equal(op, verification.Verifies);
        Assert.True(verification.DoNotCache && verification.SkipCacheLookup);
        Assert.Equal(h.Operation(op).ActionDigest, verification.ActionDigest);
        Assert.Single(h.Log.Current.Operations.Values, o => o.Verifies == op);

        // Its own completion is not verified again.
        await h.Log.ProposeAsync(Assign(h.NowUnixMs, (verification.Name, "idle", 1)), CancellationToken.None);
        await h.Log.ProposeAsync(Complete(verification.Name, "idle", at: h.NowUnixMs), CancellationToken.None);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        await h.PassAsync();
        Assert.Null(h.Log.Current.FindOperationByRequest("verify/" + verification.Name));
    }

    [Fact]
    public async Task Nothing_is_verified_by_default()
    {
        await using var h = await Harness.StartAsync();
        var op = await h.StartAsync("slow", "cc", "unchecked");
        await h.Log.ProposeAsync(Complete(op, "slow", at: h.NowUnixMs), CancellationToken.None);

        h.Clock.Advance(TimeSpan.FromSeconds(1));
        await h.PassAsync();

        Assert.Null(h.Log.Current.FindOperationByRequest("verify/" + op));
    }

    [Fact]
    public void A_sample_takes_about_its_share_of_names_and_the_same_names_everywhere()
    {
        var taken = 0;
        for (var i = 0; i < 10_000; i++)
        {
            taken += Speculation.Sampled("operations/s1-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), 0.1) ? 1 : 0;
        }

        Assert.InRange(taken, 800, 1_200);
        Assert.True(Speculation.Sampled("anything", 1.0));
        Assert.False(Speculation.Sampled("anything", 0.0));
    }

    private sealed class Harness : IAsyncDisposable
    {
        private readonly TempDirectory _data;
        private readonly FasterBlobStore _store;
        private int _requests;

        private Harness(TempDirectory data, FasterBlobStore store, InstantLog log, FakeTimeProvider clock, FrontendOptions options)
        {
            _data = data;
            _store = store;
            Log = log;
            Clock = clock;
            Frontend = new SchedulerFrontend(log, store, options with { HeartbeatTtlMs = 3_600_000 }, timeProvider: clock, random: new Random(1));
        }

        public InstantLog Log { get; }

        public FakeTimeProvider Clock { get; }

        public SchedulerFrontend Frontend { get; }

        public long NowUnixMs => Clock.GetUtcNow().ToUnixTimeMilliseconds();

        /// <summary>Worker "slow" and idle ones ("idle", "idle2", ...), one slot each.</summary>
        public static async Task<Harness> StartAsync(FrontendOptions? options = null, int idleWorkers = 1)
        {
            var data = new TempDirectory("rh-speculation-test-");
            var store = await FasterBlobStore.OpenAsync(new FasterBlobStoreOptions { DataDirectory = data.Path, MaxBytes = 1L << 26, CheckpointIntervalMs = 0 }, CancellationToken.None);
            var h = new Harness(data, store, new InstantLog(), new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)), options ?? new FrontendOptions());
            string[] workers = ["slow", "idle", "idle2", "idle3"];
            foreach (var worker in workers[..(1 + idleWorkers)])
            {
                await h.Log.ProposeAsync(Register(worker, slots: 1, at: h.NowUnixMs), CancellationToken.None);
            }

            return h;
        }

        /// <summary>Completed runs of a class on "slow", each <paramref name="runMs"/> long.</summary>
        public async Task HistoryAsync(string actionClass, long runMs, int runs, string instance = "")
        {
            for (var i = 0; i < runs; i++)
            {
                var name = await StartAsync("slow", actionClass, $"{instance}{actionClass}-history-{i}", instance);
                Clock.Advance(TimeSpan.FromMilliseconds(runMs));
                await Log.ProposeAsync(Complete(name, "slow", at: NowUnixMs), CancellationToken.None);
            }
        }

        /// <summary>Submits an action of the class and leases it to the worker (as placement would); returns the operation's name.</summary>
        public async Task<string> StartAsync(string worker, string actionClass, string action, string instance = "")
        {
            var submit = Submit($"r{++_requests}", action: action, at: NowUnixMs);
            submit.Submit.InstanceName = instance;
            submit.Submit.ActionClass = actionClass;
            var name = (await Log.ProposeAsync(submit, CancellationToken.None)).Submit.OperationName;
            var grant = await Log.ProposeAsync(Assign(NowUnixMs, (name, worker, 1)), CancellationToken.None);
            Assert.Equal(SchedulerResultCode.Ok, Assert.Single(grant.AssignLeases.Grants).Code);
            return name;
        }

        public OperationState Operation(string name) => Log.Current.FindOperation(name)!;

        public Task PassAsync() => Frontend.Duties.RunOnceAsync(CancellationToken.None);

        public async ValueTask DisposeAsync()
        {
            await Frontend.DisposeAsync();
            await _store.DisposeAsync();
            _data.Dispose();
        }
    }
}
