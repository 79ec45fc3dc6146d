using System.Collections.Concurrent;
using System.Security.Cryptography;
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
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Tests.Peer;

/// <summary>What a worker tells the heads about its blobs: its peer endpoint at registration, the blobs in heartbeats.</summary>
public sealed class BlobReportingTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly TempDirectory _root = new("rh-blob-report-test-");
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
    public async Task Held_and_new_blobs_are_reported_a_bounded_batch_per_beat_and_all_again_after_registering_again()
    {
        var cache = new FileCache(_root.Combine("cache"));
        var held = new List<Digest>();
        for (var i = 0; i < 5; i++)
        {
            held.Add(Hold(cache, i));
        }

        await using var agent = new WorkerAgent(
            new WorkerAgentOptions { DataDirectory = _root.Combine("worker"), Slots = 1, LeaseAhead = 0, LeaseWaitMs = 200, PeerEndpoint = "127.0.0.1:4242", BlobReportsPerBeatMax = 2 },
            new HeadConnection([TestServers.Endpoint(_server)], _channels),
            new IdleRunner(),
            new RemoteBlobStore(new HeadConnection([TestServers.Endpoint(_server)], _channels)),
            blobs: new BlobReports(cache));
        await agent.StartAsync(CancellationToken.None);

        Assert.Equal("127.0.0.1:4242", Assert.Single(_protocol.Registrations).PeerEndpoint);
        await TestServers.EventuallyAsync(() => Reported().IsSupersetOf(Keys(held)), Deadline, "the blobs held at start reported");

        // One stored while running goes with a later beat.
        var stored = Hold(cache, 99);
        held.Add(stored);
        await TestServers.EventuallyAsync(() => Reported().Contains(Key(stored)), Deadline, "a newly stored blob reported");
        Assert.All(_protocol.Batches, batch => Assert.InRange(batch, 0, 2));

        // A head that forgot the worker learns everything again after it registers again.
        _protocol.Stored.Clear();
        _protocol.AnswerRegisterAgain = true;
        await TestServers.EventuallyAsync(() => _protocol.Registrations.Count == 2, Deadline, "registering again");
        await TestServers.EventuallyAsync(() => Reported().IsSupersetOf(Keys(held)), Deadline, "every held blob reported again");
        await agent.StopAsync(CancellationToken.None);
    }

    private HashSet<(string, long)> Reported() => [.. _protocol.Stored.Keys];

    private static (string, long) Key(Digest digest) => (digest.Hash, digest.SizeBytes);

    private static IEnumerable<(string, long)> Keys(IEnumerable<Digest> digests) => digests.Select(Key);

    private static Digest Hold(FileCache cache, int seed)
    {
        var bytes = new byte[1000 + seed];
        new Random(seed).NextBytes(bytes);
        var digest = Digests.FromHash(SHA256.HashData(bytes), bytes.Length);
        var temp = cache.NewTempPath();
        File.WriteAllBytes(temp, bytes);
        cache.Adopt(temp, digest);
        return digest;
    }

    private sealed class IdleRunner : IActionRunner
    {
        public Task<ActionRunResult> RunAsync(ActionRunRequest request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("no work is leased in these tests");
    }

    /// <summary>A head that leases nothing and records what heartbeats report.</summary>
    private sealed class RecordingProtocol : WorkerProtocol.WorkerProtocolBase
    {
        public ConcurrentQueue<WorkerRegisterRequest> Registrations { get; } = new();

        public ConcurrentDictionary<(string, long), byte> Stored { get; } = new();

        public ConcurrentQueue<int> Batches { get; } = new();

        /// <summary>The next beat is answered register-again (once), as a head that lost the worker does.</summary>
        public volatile bool AnswerRegisterAgain;

        public override Task<WorkerRegisterResponse> Register(WorkerRegisterRequest request, ServerCallContext context)
        {
            Registrations.Enqueue(request);
            return Task.FromResult(new WorkerRegisterResponse { HeartbeatIntervalMs = 20, HeartbeatTtlMs = 1_000 });
        }

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
            Batches.Enqueue(request.Stored.Count);
            if (AnswerRegisterAgain)
            {
                // A head that does not know the worker ignores what the beat reports.
                AnswerRegisterAgain = false;
                return Task.FromResult(new WorkerHeartbeatResponse { RegisterAgain = true });
            }

            foreach (var digest in request.Stored)
            {
                Stored[(digest.Hash, digest.SizeBytes)] = 0;
            }

            return Task.FromResult(new WorkerHeartbeatResponse());
        }
    }
}
