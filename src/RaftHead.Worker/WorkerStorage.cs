using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using RaftHead.Storage.Remote;
using RaftHead.Worker.Peer;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker;

/// <summary>
/// A worker's blob store, composed once at start-up from decorators over <see cref="IBlobStore"/>, outermost first:
/// <list type="number">
/// <item><see cref="LocalFirstBlobStore"/>: the worker's own file cache answers first and keeps what the worker writes;</item>
/// <item><see cref="PeerFetchingBlobStore"/>: peers the heads' directory names, each read verified, before the heads;</item>
/// <item><see cref="VerifyingBlobStore"/> over <see cref="RemoteBlobStore"/>: the heads, every read checked against its digest.</item>
/// </list>
/// Without peers only the last layer is used: a cache nobody reads from is not worth keeping.
/// </summary>
public sealed class WorkerStorage : IDisposable
{
    private WorkerStorage(IBlobStore store, PeerFetchingBlobStore? peers, LocalFirstBlobStore? local)
    {
        Store = store;
        Peers = peers;
        Local = local;
    }

    /// <summary>The top of the stack: what the runner and the agent read and write through.</summary>
    public IBlobStore Store { get; }

    /// <summary>The peer layer and its counters, or null when peers are off.</summary>
    public PeerFetchingBlobStore? Peers { get; }

    /// <summary>The worker's own blobs in front, or null when peers are off.</summary>
    public LocalFirstBlobStore? Local { get; }

    /// <param name="heads">The cluster's heads.</param>
    /// <param name="channels">Channels to peer workers (the heads' pool will do).</param>
    /// <param name="cache">The worker's file cache; needed with peers only.</param>
    /// <param name="workerId">Excluded from where-is answers: a worker never asks itself.</param>
    /// <param name="peers">Whether to read from peers and keep written blobs for them.</param>
    /// <param name="options">Peer bounds; the defaults when null.</param>
    /// <param name="logging">Loggers for the layers that log.</param>
    public static WorkerStorage Compose(HeadConnection heads, GrpcChannels channels, FileCache? cache, string workerId, bool peers, PeerFetchOptions? options = null, ILoggerFactory? logging = null)
    {
        ArgumentNullException.ThrowIfNull(heads);
        logging ??= NullLoggerFactory.Instance;
        IBlobStore store = new VerifyingBlobStore(new RemoteBlobStore(heads), () => heads.Current);
        if (!peers)
        {
            return new WorkerStorage(store, null, null);
        }

        ArgumentNullException.ThrowIfNull(cache);
        options ??= new PeerFetchOptions();
        var peerLayer = new PeerFetchingBlobStore(store, new HeadBlobLocator(heads, workerId), channels, cache, options, logging.CreateLogger<PeerFetchingBlobStore>());
        var local = new LocalFirstBlobStore(peerLayer, cache, options.PeerFetchMinBytes, logging.CreateLogger<LocalFirstBlobStore>());
        return new WorkerStorage(local, peerLayer, local);
    }

    public void Dispose() => Peers?.Dispose();
}
