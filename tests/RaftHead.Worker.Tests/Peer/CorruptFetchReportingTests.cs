using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.Runner;
using RaftHead.Protocol.V1;
using RaftHead.Storage.Remote;
using RaftHead.Testing;
using RaftHead.Worker.Agent;
using RaftHead.Worker.Peer;

namespace RaftHead.Worker.Tests.Peer;

/// <summary>How a worker tells the heads which peers sent it corrupt blobs: a bounded queue, drained by heartbeats, each report once.</summary>
public sealed class CorruptFetchReportingTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly TempDirectory _root = new("rh-corrupt-report-test-");
    private readonly GrpcChannels _channels = new(HeadConnection.ChannelSettings);
    private readonly RecordingProtocol _protocol = new();
    private Head.Hosting.GrpcServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServers.StartAsync(_protocol);

    public async Task DisposeAsync()
    {
        _channels.Dispose();
        await _server.DisposeAsync();
        _root.Dispose();
    }

    [Fact]
    public void Reports_beyond_the_bound_are_dropped_and_counted()
    {
        var reports = new CorruptFetchReports(pendingMax: 2);
        reports.Add("127.0.0.1:1", Blob(1), "the bytes hash to 01");
        reports.Add("127.0.0.1:2", Blob(2), "the bytes hash to 02");
        reports.Add("127.0.0.1:3", Blob(3), "the bytes hash to 03");

        Assert.Equal(3, reports.Recorded);
        Assert.Equal(2, reports.PendingCount);
        Assert.Equal(1, reports.Dropped);
        var batch = new List<CorruptBlobReport>();
        reports.Take(10, batch);
        Assert.Equal(new[] { "127.0.0.1:1", "127.0.0.1:2" }, batch.Select(r => r.PeerEndpoint));

        // A batch given back while the queue is full again is bounded the same way.
        reports.Add("127.0.0.1:4", Blob(4), "d");
        reports.Add("127.0.0.1:5", Blob(5), "e");
        reports.Return(batch);
        Assert.Equal(2, reports.PendingCount);
        Assert.Equal(3, reports.Dropped);
    }

    [Fact]
    public void A_report_is_taken_once_and_a_batch_given_back_is_taken_again()
    {
        var reports = new CorruptFetchReports();
        var digest = Blob(7);
        reports.Add("127.0.0.1:7", digest, new string('x', 1000));

        var first = new List<CorruptBlobReport>();
        reports.Take(10, first);
        var report = Assert.Single(first);
        Assert.Equal(digest, report.Digest);
        Assert.Equal(CorruptFetchReports.DetailCharsMax, report.Detail.Length);
        var again = new List<CorruptBlobReport>();
        reports.Take(10, again);
        Assert.Empty(again);

        reports.Return(first);
        reports.Take(10, again);
        Assert.Equal(report, Assert.Single(again));
    }

    [Fact]
    public async Task Heartbeats_carry_each_report_once_and_a_failed_or_refused_beat_keeps_them_for_the_next()
    {
        var reports = new CorruptFetchReports();
        for (var i = 0; i < 3; i++)
        {
            reports.Add("127.0.0.1:900" + i, Blob(i), "the bytes hash to " + i);
        }

        _protocol.FailNextBeats = 2;
        _protocol.RegisterAgainAfterFailures = true;
        await using var agent = new WorkerAgent(
            new WorkerAgentOptions { DataDirectory = _root.Combine("worker"), Slots = 1, LeaseAhead = 0, LeaseWaitMs = 200, CorruptReportsPerBeatMax = 2 },
            new HeadConnection([TestServers.Endpoint(_server)], _channels),
            new IdleRunner(),
            new RemoteBlobStore(new HeadConnection([TestServers.Endpoint(_server)], _channels)),
            corrupt: reports);
        await agent.StartAsync(CancellationToken.None);

        await TestServers.EventuallyAsync(() => _protocol.Accepted.Count == 3, Deadline, "every report accepted by the head");
        await TestServers.EventuallyAsync(() => _protocol.Beats.Count >= _protocol.BeatsSeenAtAccept + 3, Deadline, "three more beats");
        await agent.StopAsync(CancellationToken.None);

        // The beats the head failed or did not take carried the reports; each went out again and was accepted once.
        Assert.Contains(_protocol.Failed, count => count > 0);
        Assert.True(_protocol.RefusedWithReports, "the register-again beat carried reports");
        Assert.Equal(new[] { "127.0.0.1:9000", "127.0.0.1:9001", "127.0.0.1:9002" }, _protocol.Accepted.Select(r => r.PeerEndpoint).Order());
        Assert.All(_protocol.Beats, count => Assert.InRange(count, 0, 2));
        Assert.Equal(0, reports.PendingCount);
        Assert.Equal(0, reports.Dropped);
    }

    private static Digest Blob(int seed) => Digests.Compute(BitConverter.GetBytes(seed));

    private sealed class IdleRunner : IActionRunner
    {
        public Task<ActionRunResult> RunAsync(ActionRunRequest request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("no work is leased in these tests");
    }

    /// <summary>A head that leases nothing, fails some beats, answers one register-again, and records the reports it took.</summary>
    private sealed class RecordingProtocol : WorkerProtocol.WorkerProtocolBase
    {
        private int _failNextBeats;

        public ConcurrentQueue<CorruptBlobReport> Accepted { get; } = new();

        /// <summary>Reports per beat, every beat.</summary>
        public ConcurrentQueue<int> Beats { get; } = new();

        /// <summary>Reports in each failed beat.</summary>
        public ConcurrentQueue<int> Failed { get; } = new();

        public int FailNextBeats
        {
            get => Volatile.Read(ref _failNextBeats);
            set => Volatile.Write(ref _failNextBeats, value);
        }

        /// <summary>The first beat with reports after the failures is answered register-again, taking none of them.</summary>
        public volatile bool RegisterAgainAfterFailures;

        public volatile bool RefusedWithReports;

        public volatile int BeatsSeenAtAccept = int.MaxValue / 2;

        public override Task<WorkerRegisterResponse> Register(WorkerRegisterRequest request, ServerCallContext context) =>
            Task.FromResult(new WorkerRegisterResponse { HeartbeatIntervalMs = 20, HeartbeatTtlMs = 1_000 });

        public override async Task<WorkerLeaseResponse> Lease(WorkerLeaseRequest request, ServerCallContext context)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(request.WaitMs), context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
            }

            return new WorkerLeaseResponse();
        }

        public override Task<WorkerHeartbeatResponse> Heartbeat(WorkerHeartbeatRequest request, ServerCallContext context)
        {
            Beats.Enqueue(request.CorruptBlobs.Count);
            if (request.CorruptBlobs.Count > 0 && Interlocked.Decrement(ref _failNextBeats) >= 0)
            {
                Failed.Enqueue(request.CorruptBlobs.Count);
                throw new RpcException(new Status(StatusCode.Internal, "the head failed"));
            }

            if (request.CorruptBlobs.Count > 0 && RegisterAgainAfterFailures)
            {
                RegisterAgainAfterFailures = false;
                RefusedWithReports = true;
                return Task.FromResult(new WorkerHeartbeatResponse { RegisterAgain = true });
            }

            foreach (var report in request.CorruptBlobs)
            {
                Accepted.Enqueue(report);
            }

            if (Accepted.Count == 3 && BeatsSeenAtAccept == int.MaxValue / 2)
            {
                BeatsSeenAtAccept = Beats.Count;
            }

            return Task.FromResult(new WorkerHeartbeatResponse());
        }
    }
}
