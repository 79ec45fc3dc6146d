using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Testing;

namespace RaftHead.Head.Tests.Frontend;

/// <summary>
/// The leader's side of corrupt-blob reports: a heartbeat naming a peer endpoint quarantines the worker that
/// registered it, through the worker protocol service as workers reach it.
/// </summary>
public sealed class CorruptBlobReportsTests : IAsyncLifetime
{
    private static readonly Digest Blob = Digests.Compute("a blob a peer served"u8);

    private readonly GatedLog _log = new();
    private readonly TempDirectory _data = new("rh-corrupt-reports-test-");
    private FasterBlobStore _store = null!;
    private SchedulerFrontend _frontend = null!;
    private WorkerProtocolService _service = null!;

    private CorruptBlobReports Reports => _frontend.CorruptBlobs;

    public async Task InitializeAsync()
    {
        _store = await FasterBlobStore.OpenAsync(new FasterBlobStoreOptions { DataDirectory = _data.Path, MaxBytes = 1L << 26, CheckpointIntervalMs = 0 }, CancellationToken.None);
        _frontend = new SchedulerFrontend(_log, _store, new FrontendOptions());
        _service = new WorkerProtocolService(_frontend);
        foreach (var id in new[] { "a", "b", "c" })
        {
            await RegisterAsync(id, id + ".peer:1");
        }
    }

    public async Task DisposeAsync()
    {
        _log.Open();
        await _frontend.DisposeAsync();
        await _store.DisposeAsync();
        _data.Dispose();
    }

    [Fact]
    public async Task A_report_quarantines_the_worker_that_registered_the_endpoint_naming_the_blob_the_reporter_and_the_bytes()
    {
        await BeatAsync("b", Report("a.peer:1", "the bytes hash to 00ff"));
        await SettledAsync();

        Assert.Equal(
            $"sent a corrupt blob {Blob.Hash}/{Blob.SizeBytes} to worker b (the bytes hash to 00ff)",
            _log.Current.FindWorker("a")!.QuarantineReason);
        Assert.Equal("", _log.Current.FindWorker("b")!.QuarantineReason);
        Assert.Equal(1, Reports.Quarantined);
    }

    [Fact]
    public async Task Reports_naming_no_single_registered_worker_or_the_reporter_itself_are_ignored()
    {
        // d takes over a's address while a is still registered: the address names nobody for sure.
        await RegisterAsync("d", "a.peer:1");

        await BeatAsync("b", Report("nobody.peer:1", "x"), Report("b.peer:1", "x"), Report("a.peer:1", "x"));

        Assert.Equal(0, Reports.Proposed);
        Assert.Equal(3, Reports.Ignored);
        Assert.Empty(_log.Quarantines);
    }

    [Fact]
    public async Task A_quarantined_reporter_is_not_believed_alone_but_a_second_quarantined_one_confirms_it()
    {
        await QuarantineAsync("b");
        await QuarantineAsync("c");

        await BeatAsync("b", Report("a.peer:1", "x"));
        await BeatAsync("b", Report("a.peer:1", "x again"));
        Assert.Equal(0, Reports.Proposed);
        Assert.Equal("", _log.Current.FindWorker("a")!.QuarantineReason);

        await BeatAsync("c", Report("a.peer:1", "y"));
        await SettledAsync();
        Assert.Equal(1, Reports.Proposed);
        Assert.Equal(
            $"sent a corrupt blob {Blob.Hash}/{Blob.SizeBytes} to worker c (y); both it and worker b, which reported it before, are quarantined",
            _log.Current.FindWorker("a")!.QuarantineReason);
    }

    [Fact]
    public async Task A_quarantined_worker_is_not_proposed_again_and_keeps_its_first_reason()
    {
        await BeatAsync("c", Report("a.peer:1", "first"));
        await SettledAsync();
        await BeatAsync("b", Report("a.peer:1", "second"));
        await SettledAsync();

        Assert.Equal(1, Reports.Proposed);
        Assert.Single(_log.Quarantines);
        Assert.EndsWith("(first)", _log.Current.FindWorker("a")!.QuarantineReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_quarantine_per_accused_worker_is_in_flight_and_the_heartbeat_does_not_wait_for_it()
    {
        _log.Close();

        // Both beats are answered while the proposal is held.
        await BeatAsync("b", Report("a.peer:1", "from b"), Report("a.peer:1", "again from b"));
        await BeatAsync("c", Report("a.peer:1", "from c"));
        Assert.Equal(1, Reports.Proposed);
        Assert.Equal(1, Reports.InFlight);

        _log.Open();
        await SettledAsync();
        Assert.Single(_log.Quarantines);
        Assert.EndsWith("(from b)", _log.Current.FindWorker("a")!.QuarantineReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_report_fails_the_heartbeat_with_INVALID_ARGUMENT_naming_the_field_and_nothing_is_proposed()
    {
        var noEndpoint = await Assert.ThrowsAsync<RpcException>(() => BeatAsync("b", Report("a.peer:1", "x"), new CorruptBlobReport { Digest = Blob }));
        Assert.Equal(StatusCode.InvalidArgument, noEndpoint.StatusCode);
        Assert.Contains("corrupt_blobs[1].peer_endpoint", noEndpoint.Status.Detail, StringComparison.Ordinal);

        var badDigest = await Assert.ThrowsAsync<RpcException>(() => BeatAsync("b", new CorruptBlobReport { PeerEndpoint = "a.peer:1", Digest = new Digest { Hash = "zz", SizeBytes = 1 } }));
        Assert.Equal(StatusCode.InvalidArgument, badDigest.StatusCode);
        Assert.Contains("corrupt_blobs[0].digest", badDigest.Status.Detail, StringComparison.Ordinal);

        Assert.Equal(0, Reports.Proposed);
    }

    private async Task QuarantineAsync(string id)
    {
        var result = await _log.ProposeAsync(new SchedulerCommand { QuarantineWorker = new QuarantineWorker { WorkerId = id, Reason = "its outputs differ from other workers'", AtUnixMs = 1 } }, CancellationToken.None);
        Assert.Equal(SchedulerResultCode.Ok, result.Code);
    }

    private async Task RegisterAsync(string id, string endpoint)
    {
        await _log.ProposeAsync(new SchedulerCommand { RegisterWorker = new RegisterWorker { WorkerId = id, Slots = 1, RegisteredAtUnixMs = 1 } }, CancellationToken.None);
        _frontend.Workers.Registered(id, "1", endpoint, 1);
    }

    private Task<WorkerHeartbeatResponse> BeatAsync(string reporter, params CorruptBlobReport[] reports) =>
        _service.Heartbeat(new WorkerHeartbeatRequest { WorkerId = reporter, Incarnation = "1", CorruptBlobs = { reports } }, null!);

    private static CorruptBlobReport Report(string peer, string detail) => new() { PeerEndpoint = peer, Digest = Blob, Detail = detail };

    /// <summary>Waits (bounded) until no quarantine proposal is under way.</summary>
    private async Task SettledAsync()
    {
        var start = TimeProvider.System.GetTimestamp();
        while (Reports.InFlight > 0)
        {
            Assert.True(TimeProvider.System.GetElapsedTime(start) < FrontendFixture.WaitLimit, "the quarantine proposal ended");
            await Task.Delay(5);
        }
    }

    /// <summary>An <see cref="InstantLog"/> that can hold quarantine proposals until opened, and records them.</summary>
    private sealed class GatedLog : ISchedulerLog
    {
        private readonly InstantLog _inner = new();
        private volatile TaskCompletionSource _gate = Opened();

        public System.Collections.Concurrent.ConcurrentQueue<QuarantineWorker> Quarantines { get; } = new();

        public SchedulerState Current => _inner.Current;

        public ChangeFeed Changes => _inner.Changes;

        public LeaderInfo Leader => _inner.Leader;

        public void Close() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => _gate.TrySetResult();

        public async Task<SchedulerResult> ProposeAsync(SchedulerCommand command, CancellationToken cancellationToken)
        {
            if (command.CommandCase == SchedulerCommand.CommandOneofCase.QuarantineWorker)
            {
                await _gate.Task.WaitAsync(cancellationToken);
                Quarantines.Enqueue(command.QuarantineWorker);
            }

            return await _inner.ProposeAsync(command, cancellationToken);
        }

        public Task ReadBarrierAsync(CancellationToken cancellationToken) => _inner.ReadBarrierAsync(cancellationToken);

        private static TaskCompletionSource Opened()
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            gate.SetResult();
            return gate;
        }
    }
}
