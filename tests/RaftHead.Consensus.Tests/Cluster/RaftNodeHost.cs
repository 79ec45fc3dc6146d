using Microsoft.Extensions.Logging;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// One Raft node as a host composes it: write-ahead log, key-value state machine, peer transport, driver, and a
/// gRPC server (ASP.NET Core) carrying the Raft service next to the control service on one port. Used in-process by the cluster
/// tests and as the child process of the kill test.
/// </summary>
public sealed class RaftNodeHost : IAsyncDisposable
{
    private readonly WriteAheadLog _wal;
    private readonly RaftPeerTransport _transport;
    private readonly GrpcTestServer _server;
    private readonly CancellationTokenSource _stopping;
    private readonly PeerFilter _filter;

    private RaftNodeHost(NodeHostOptions options, WriteAheadLog wal, KvStateMachine store, RaftPeerTransport transport, RaftDriver driver, GrpcTestServer server, CancellationTokenSource stopping, PeerFilter filter)
    {
        _stopping = stopping;
        _filter = filter;
        Options = options;
        _wal = wal;
        Store = store;
        _transport = transport;
        Driver = driver;
        _server = server;
    }

    public NodeHostOptions Options { get; }

    public long Id => Options.Id;

    public RaftDriver Driver { get; }

    public KvStateMachine Store { get; }

    public RaftPeerTransport Transport => _transport;

    /// <summary>
    /// Drops every message received from <paramref name="peers"/> until <see cref="Heal"/>: cut both directions of
    /// a link by blocking it on both ends. Messages are dropped before the driver, so its counters do not see them.
    /// </summary>
    public void Block(params long[] peers) => _filter.Block(peers);

    public void Heal() => _filter.Clear();

    public static async Task<RaftNodeHost> StartAsync(NodeHostOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(options.DataDirectory);
        var firstStart = !Directory.EnumerateFiles(options.DataDirectory, "wal-*.log").Any();
        var wal = firstStart
            ? WriteAheadLog.Bootstrap(options.DataDirectory, new ClusterMembership(options.Members.Keys))
            : WriteAheadLog.Open(options.DataDirectory);
        var store = new KvStateMachine();
        var logger = loggerFactory.CreateLogger("RaftNode");
        var transportOptions = new RaftTransportOptions();
        var transport = new RaftPeerTransport(options.Id, transportOptions, logger);
        foreach (var (id, address) in options.Members)
        {
            if (id != options.Id) transport.SetPeer(id, address);
        }
        var driverOptions = new RaftDriverOptions
        {
            Raft = new RaftConfig { NodeId = options.Id, ElectionTicks = options.ElectionTicks, HeartbeatTicks = options.HeartbeatTicks, SnapshotChunkBytes = 1024 },
            TickMs = options.TickMs,
            SnapshotThresholdEntries = options.SnapshotThresholdEntries,
        };
        if (options.RequestQueueCapacity is { } requestQueueCapacity) driverOptions = driverOptions with { RequestQueueCapacity = requestQueueCapacity };
        var stageClock = options.StageClock ? new StageClock(logger) : null;
        var driver = new RaftDriver(
            driverOptions,
            stageClock?.Wrap(wal) ?? wal,
            stageClock?.Wrap(store) ?? store,
            stageClock?.Wrap(transport) ?? transport,
            logger);
        var stopping = new CancellationTokenSource();
        var filter = new PeerFilter();
        GrpcTestServer server;

        bool Deliver(Message m)
        {
            if (!filter.Passes(m)) return false;
            stageClock?.OnReceived(m);
            return driver.Deliver(m);
        }

        try
        {
            driver.Start();
            server = await GrpcTestServer.StartAsync(
                options.Port,
                new RaftTransportService(options.Id, Deliver, stopping.Token, transportOptions, logger),
                transportOptions,
                new ControlService(driver, store, stageClock),
                loggerFactory,
                cancellationToken);
        }
        catch
        {
            await driver.DisposeAsync();
            await transport.DisposeAsync();
            wal.Dispose();
            stopping.Dispose();
            throw;
        }
        return new RaftNodeHost(options, wal, store, transport, driver, server, stopping, filter);
    }

    /// <summary>Clean shutdown: the loop stops between Readies, then the server, the streams and the log close.</summary>
    public async ValueTask DisposeAsync()
    {
        await Driver.DisposeAsync();
        await _stopping.CancelAsync();
        await _server.DisposeAsync();
        await _transport.DisposeAsync();
        _wal.Dispose();
        _stopping.Dispose();
    }

    private sealed class PeerFilter
    {
        private readonly object _gate = new();
        private HashSet<long> _blocked = [];

        public void Block(long[] peers)
        {
            lock (_gate) _blocked = [.. _blocked, .. peers];
        }

        public void Clear()
        {
            lock (_gate) _blocked = [];
        }

        // Copy-on-write: the receive path reads the current set without taking the lock.
        public bool Passes(Message message) => !Volatile.Read(ref _blocked).Contains(message.From);
    }
}
