using Microsoft.Extensions.Time.Testing;
using RaftHead.Head.Frontend;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Testing;

namespace RaftHead.Head.Tests.Frontend;

/// <summary>
/// The leader's duties pass by pass, over a log that applies at once and whose leadership the test sets, with a manual
/// clock: what a change of leader does to the judgement of silent workers.
/// </summary>
public sealed class LeaderDutiesTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_new_leader_waits_one_ttl_before_declaring_a_worker_it_never_heard_dead()
    {
        await using var h = await Harness.StartAsync();
        await h.Log.ProposeAsync(Register("w"), CancellationToken.None);
        h.Frontend.Workers.Seen("w", h.NowUnixMs);
        await h.PassAsync();

        // Leadership moves away for a while; the worker's beats go to the other leader.
        h.Log.Leader = new LeaderInfo(false, 2, "127.0.0.1:8981", 2);
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        await h.PassAsync();
        Assert.NotNull(h.Log.Current.FindWorker("w"));

        // Back as leader in a new term: its own record of the worker is 30 s old, but it grants a grace of one TTL.
        h.Log.Leader = new LeaderInfo(true, 1, null, 3);
        await h.PassAsync();
        h.Clock.Advance(Ttl - TimeSpan.FromSeconds(1));
        await h.PassAsync();
        Assert.NotNull(h.Log.Current.FindWorker("w"));

        h.Clock.Advance(TimeSpan.FromSeconds(2));
        await h.PassAsync();
        Assert.Null(h.Log.Current.FindWorker("w"));
    }

    [Fact]
    public async Task A_worker_beating_within_the_ttl_is_never_declared_dead_and_a_follower_judges_nobody()
    {
        await using var h = await Harness.StartAsync();
        await h.Log.ProposeAsync(Register("w"), CancellationToken.None);
        await h.PassAsync();
        for (var i = 0; i < 5; i++)
        {
            h.Clock.Advance(TimeSpan.FromSeconds(8));
            h.Frontend.Workers.Seen("w", h.NowUnixMs);
            await h.PassAsync();
        }

        Assert.NotNull(h.Log.Current.FindWorker("w"));
        h.Log.Leader = new LeaderInfo(false, 2, null, 2);
        h.Clock.Advance(TimeSpan.FromMinutes(5));
        await h.PassAsync();
        Assert.NotNull(h.Log.Current.FindWorker("w"));
    }

    private static SchedulerCommand Register(string worker) =>
        new() { RegisterWorker = new RegisterWorker { WorkerId = worker, Slots = 1, RegisteredAtUnixMs = 1 } };

    private sealed class Harness : IAsyncDisposable
    {
        private readonly TempDirectory _data;
        private readonly FasterBlobStore _store;

        private Harness(TempDirectory data, FasterBlobStore store, InstantLog log, FakeTimeProvider clock)
        {
            _data = data;
            _store = store;
            Log = log;
            Clock = clock;
            Frontend = new SchedulerFrontend(log, store, new FrontendOptions { HeartbeatTtlMs = (int)Ttl.TotalMilliseconds }, timeProvider: clock, random: new Random(1));
        }

        public InstantLog Log { get; }

        public FakeTimeProvider Clock { get; }

        public SchedulerFrontend Frontend { get; }

        public long NowUnixMs => Clock.GetUtcNow().ToUnixTimeMilliseconds();

        public static async Task<Harness> StartAsync()
        {
            var data = new TempDirectory("rh-duties-test-");
            var store = await FasterBlobStore.OpenAsync(new FasterBlobStoreOptions { DataDirectory = data.Path, MaxBytes = 1L << 26, CheckpointIntervalMs = 0 }, CancellationToken.None);
            return new Harness(data, store, new InstantLog(), new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        }

        public Task PassAsync() => Frontend.Duties.RunOnceAsync(CancellationToken.None);

        public async ValueTask DisposeAsync()
        {
            await Frontend.DisposeAsync();
            await _store.DisposeAsync();
            _data.Dispose();
        }
    }
}
