using System.Net;
using RaftHead.Protocol.Client;
using RaftHead.Storage.Remote;
using RaftHead.Worker;
using RaftHead.Worker.Agent;
using RaftHead.Worker.Peer;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Bench.Worker;

/// <summary>
/// A worker composed as <c>rh worker</c> composes it, in this process: its store reads the heads over gRPC
/// (<see cref="RemoteBlobStore"/>) with its <see cref="FileCache"/> in front and its peers beside
/// (<see cref="PeerFetchingBlobStore"/>), the cache served to peers (<see cref="PeerBlobServer"/>) and reported in
/// heartbeats, and <see cref="WorkerAgent"/> leasing over the worker protocol.
/// </summary>
internal sealed class BenchWorker : IAsyncDisposable
{
    private readonly GrpcChannels _channels;
    private readonly WorkerStorage _store;
    private readonly ActionRunner _runner;
    private readonly PeerBlobServer _server;
    private readonly WorkerAgent _agent;

    private BenchWorker(GrpcChannels channels, FileCache cache, WorkerStorage store, ActionRunner runner, PeerBlobServer server, WorkerAgent agent)
    {
        _channels = channels;
        Cache = cache;
        _store = store;
        _runner = runner;
        _server = server;
        _agent = agent;
    }

    public FileCache Cache { get; }

    public PeerBlobServer Server => _server;

    public WorkerAgent Agent => _agent;

    public ActionRunner Runner => _runner;

    public static async Task<BenchWorker> StartAsync(string head, string dataDirectory, int slots, string runAsUser, CancellationToken cancellationToken)
    {
        var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        var connection = new HeadConnection([head], channels);
        var workerId = WorkerIdentity.LoadOrCreate(dataDirectory);
        var work = Path.Combine(dataDirectory, "work");
        var cache = new FileCache(Path.Combine(work, "cache"));
        var storage = WorkerStorage.Compose(connection, channels, cache, workerId, peers: true);
        var store = storage.Store;
        var runner = new ActionRunner(store, new RunnerOptions { WorkDirectory = work, WorkerId = workerId, RunAsUser = runAsUser, WarmSandboxes = slots + 1 }, cache: cache);
        var server = await PeerBlobServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), cache, null, cancellationToken).ConfigureAwait(false);
        var agent = new WorkerAgent(
            new WorkerAgentOptions { DataDirectory = dataDirectory, Slots = slots, PeerEndpoint = server.Endpoint },
            connection,
            runner,
            store,
            blobs: new BlobReports(cache));
        await agent.StartAsync(cancellationToken).ConfigureAwait(false);
        return new BenchWorker(channels, cache, storage, runner, server, agent);
    }

    public async ValueTask DisposeAsync()
    {
        await _agent.DisposeAsync().ConfigureAwait(false);
        await _server.DisposeAsync().ConfigureAwait(false);
        await _runner.DisposeAsync().ConfigureAwait(false);
        _store.Dispose();
        _channels.Dispose();
    }
}
