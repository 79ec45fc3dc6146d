using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;
using RaftHead.Head.Admin;
using RaftHead.Head.Frontend;
using RaftHead.Head.Graphs;
using RaftHead.Head.Hosting;
using RaftHead.Head.Reapi;
using RaftHead.Head.Replication;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Storage.Remote;

namespace RaftHead.Head;

/// <summary>
/// One head, composed here and nowhere else: the FASTER CAS, the scheduler state machine (operations, workers and the
/// action cache) in a Raft log, the execution frontend over it, and every service on one gRPC port — REAPI, the worker
/// protocol, admin, the Raft peer stream and proposal forwarding. A head alone (<c>rh serve</c>) is a one-member log;
/// a replica of <c>rh head</c> differs only in its members. Workers are never part of a head: they reach it through
/// the worker protocol, in this process (<c>rh serve --exec</c>) or another.
/// </summary>
public sealed class HeadNode : IAsyncDisposable
{
    private readonly FasterBlobStore _store;
    private readonly ReplicatedBlobStore _blobs;
    private readonly GrpcChannels _peerChannels;
    private readonly CompletenessCheckingActionCache _actionCache;
    private readonly ByteStreamService _byteStream;
    private readonly WriteAheadLog _wal;
    private readonly RaftPeerTransport _transport;
    private readonly RaftDriver _driver;
    private readonly ForwardingSchedulerLog _log;
    private readonly SchedulerFrontend _frontend;
    private readonly GrpcServer _server;
    private readonly CancellationTokenSource _stopping;
    private readonly HeadNodeOptions _options;

    private HeadNode(HeadNodeOptions options, FasterBlobStore store, ReplicatedBlobStore blobs, GrpcChannels peerChannels, CompletenessCheckingActionCache actionCache, ByteStreamService byteStream, WriteAheadLog wal, RaftPeerTransport transport, RaftDriver driver, ForwardingSchedulerLog log, SchedulerFrontend frontend, GrpcServer server, CancellationTokenSource stopping)
    {
        _options = options;
        _store = store;
        _blobs = blobs;
        _peerChannels = peerChannels;
        _actionCache = actionCache;
        _byteStream = byteStream;
        _wal = wal;
        _transport = transport;
        _driver = driver;
        _log = log;
        _frontend = frontend;
        _server = server;
        _stopping = stopping;
    }

    /// <summary>The address clients dial, e.g. <c>http://127.0.0.1:8980</c>.</summary>
    public Uri Address => _server.Address;

    public RaftStatus Raft => _driver.Status;

    /// <summary>The replicated scheduler as this head sees it (forwarding writes to the leader).</summary>
    public ISchedulerLog Log => _log;

    public SchedulerFrontend Frontend => _frontend;

    /// <summary>
    /// This head's CAS as its clients see it: writes acknowledged on two heads, reads served from any (in process, a
    /// worker may read and write it directly).
    /// </summary>
    public IBlobStore Blobs => _blobs;

    public HeadNodeOptions Options => _options;

    public static async Task<HeadNode> StartAsync(HeadNodeOptions options, CancellationToken cancellationToken, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        var raftDirectory = Path.Combine(options.DataDirectory, "raft");
        var store = await FasterBlobStore.OpenAsync(
            (options.Cas ?? new FasterBlobStoreOptions { DataDirectory = "" }) with { DataDirectory = Path.Combine(options.DataDirectory, "cas"), MaxBytes = options.CasMaxBytes },
            cancellationToken).ConfigureAwait(false);
        var disposables = new Stack<IAsyncDisposable>();
        disposables.Push(store);
        try
        {
            var members = options.Members.Count > 0 ? options.Members : new Dictionary<long, string> { [options.NodeId] = options.SelfAddress };

            // A head alone may listen on a port picked at start: its status names the port it got.
            var selfAddress = options.SelfAddress;
            IReadOnlyDictionary<long, string> statusMembers = members;
            var wal = Directory.Exists(raftDirectory) && Directory.EnumerateFiles(raftDirectory, "wal-*.log").Any()
                ? WriteAheadLog.Open(raftDirectory)
                : WriteAheadLog.Bootstrap(raftDirectory, new ClusterMembership(members.Keys));
            disposables.Push(new DisposeAction(() => wal.Dispose()));
            var seed = OperationNameSeed(raftDirectory);

            // Every client write is acknowledged once on two heads; a blob another head holds is served here too.
            var peerChannels = new GrpcChannels(HeadConnection.ChannelSettings);
            disposables.Push(new DisposeAction(peerChannels.Dispose));
            var peers = new Dictionary<long, string>();
            foreach (var (id, address) in members)
            {
                if (id != options.NodeId)
                {
                    peers.Add(id, address);
                }
            }

            var blobs = new ReplicatedBlobStore(store, [.. peers.Values], peerChannels, options.BlobReplication, loggerFactory.CreateLogger<ReplicatedBlobStore>());
            disposables.Push(blobs);

            var raftLogger = loggerFactory.CreateLogger("RaftHead.Raft");
            var transportOptions = new RaftTransportOptions();
            var transport = new RaftPeerTransport(options.NodeId, transportOptions, raftLogger);
            disposables.Push(transport);
            foreach (var (id, address) in peers)
            {
                transport.SetPeer(id, address);
            }

            var machine = new ObservedStateMachine(new SchedulerStateMachine(options.Limits), new ChangeFeed());
            var driver = new RaftDriver(
                new RaftDriverOptions
                {
                    Raft = new RaftConfig { NodeId = options.NodeId, ElectionTicks = options.ElectionTicks, HeartbeatTicks = 1 },
                    TickMs = options.RaftTickMs,
                    SnapshotThresholdEntries = options.SnapshotThresholdEntries,
                },
                wal,
                machine,
                transport,
                raftLogger);
            disposables.Push(driver);
            var stopping = new CancellationTokenSource();
            var frontendOptions = options.Frontend with
            {
                OperationNameSeed = options.Frontend.OperationNameSeed.Length > 0 ? options.Frontend.OperationNameSeed : seed,
                HeadEndpoints = [.. members.Values],
            };
            var retryDelay = TimeSpan.FromMilliseconds(frontendOptions.RetryDelayMs);
            var raftLog = new RaftSchedulerLog(driver, machine, retryDelay);

            // Forwarding goes to a replica's address; retries stay off, as a proposal is not idempotent by itself.
            var log = new ForwardingSchedulerLog(raftLog, options.SelfAddress, new GrpcChannelSettings { RetryAttemptsMax = 1 });
            var frontend = new SchedulerFrontend(log, blobs, frontendOptions, options.Execution, options.TimeProvider, loggerFactory: loggerFactory);
            disposables.Push(frontend);

            var actionCache = frontend.ActionCache;
            var reapi = options.Reapi with { ExecutionEnabled = options.ExecutionEnabled };
            var byteStream = new ByteStreamService(blobs, reapi, options.TimeProvider, localOnly: store);
            disposables.Push(byteStream);
            var admin = new AdminService(
                () => BuildCacheStats(store, actionCache, log.Current, options.CasMaxBytes),
                request => options.ExecutionEnabled ? OperationsListing.Build(log.Current, request) : new ListOperationsResponse(),
                () => NodeStatusBuilder.Build(
                    driver.Status,
                    selfAddress,
                    statusMembers,
                    log.Current,
                    frontend.Workers,
                    options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds(),
                    NodeProcess.Current,
                    frontend.Options),
                new WorkerQuarantine(log, options.TimeProvider, retryDelay));
            var server = GrpcServer.Create(
                new GrpcServerOptions { Address = options.Address, Port = options.Port },
                (services, grpc) =>
                {
                    services.AddSingleton(new CapabilitiesService(reapi));
                    services.AddSingleton(new CasService(blobs, reapi, localOnly: store));
                    services.AddSingleton(byteStream);
                    services.AddSingleton(new ActionCacheService(actionCache, blobs, reapi));
                    services.AddSingleton(admin);
                    services.AddSingleton(new RaftTransportService(options.NodeId, driver.Deliver, stopping.Token, transportOptions, raftLogger));
                    services.AddSingleton(new SchedulerForwardingService(raftLog));
                    services.AddSingleton(new FrontendExecutionService(frontend));
                    services.AddSingleton(new FrontendOperationsService(frontend));
                    services.AddSingleton(new WorkerProtocolService(frontend));
                    services.AddSingleton(new GraphService(frontend, options.Limits, options.Execution));
                    grpc.AddServiceOptions<CasService>(o => o.MaxReceiveMessageSize = reapi.CasReceiveMessageBytesMax);
                    grpc.AddServiceOptions<ByteStreamService>(o => o.MaxReceiveMessageSize = reapi.ByteStreamReceiveMessageBytesMax);
                    grpc.AddServiceOptions<RaftTransportService>(o => o.MaxReceiveMessageSize = transportOptions.MaxReceiveMessageBytes);
                },
                endpoints =>
                {
                    endpoints.MapGrpcService<CapabilitiesService>();
                    endpoints.MapGrpcService<CasService>();
                    endpoints.MapGrpcService<ByteStreamService>();
                    endpoints.MapGrpcService<ActionCacheService>();
                    endpoints.MapGrpcService<AdminService>();
                    endpoints.MapGrpcService<RaftTransportService>();
                    endpoints.MapGrpcService<SchedulerForwardingService>();
                    if (options.ExecutionEnabled)
                    {
                        endpoints.MapGrpcService<FrontendExecutionService>();
                        endpoints.MapGrpcService<FrontendOperationsService>();
                        endpoints.MapGrpcService<WorkerProtocolService>();
                        endpoints.MapGrpcService<GraphService>();
                    }
                },
                health => health.AddCheck("storage", () => store.IsOpen ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("the CAS is closed")),
                loggerFactory);
            disposables.Push(server);

            // The peer stream must be served before the loop can hear from the other replicas.
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
            if (!options.Replicated)
            {
                selfAddress = server.Address.Authority;
                statusMembers = new Dictionary<long, string> { [options.NodeId] = selfAddress };
            }

            driver.Start();
            if (!options.Replicated)
            {
                // Alone, this head elects itself within a few ticks; "ready" must mean it takes writes.
                await WaitForLeaderAsync(driver, cancellationToken).ConfigureAwait(false);
            }

            if (options.ExecutionEnabled)
            {
                frontend.Start();
            }

            return new HeadNode(options, store, blobs, peerChannels, actionCache, byteStream, wal, transport, driver, log, frontend, server, stopping);
        }
        catch
        {
            while (disposables.TryPop(out var disposable))
            {
                await disposable.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    public GetCacheStatsResponse CacheStats() => BuildCacheStats(_store, _actionCache, _log.Current, _options.CasMaxBytes);

    public async ValueTask DisposeAsync()
    {
        // The frontend first: it ends open Execute streams with UNAVAILABLE so the server's stop need not wait on them.
        await _frontend.DisposeAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _server.DisposeAsync().ConfigureAwait(false);
        await _driver.DisposeAsync().ConfigureAwait(false);
        await _transport.DisposeAsync().ConfigureAwait(false);
        _log.Dispose();
        _wal.Dispose();
        await _byteStream.DisposeAsync().ConfigureAwait(false);
        await _blobs.DisposeAsync().ConfigureAwait(false);
        _peerChannels.Dispose();
        await _store.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private static async Task WaitForLeaderAsync(RaftDriver driver, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        while (!driver.Status.IsLeader)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), limit.Token).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Part of every operation name, chosen once per log: a log started afresh in the same place must not hand out the
    /// names of the one before it (a client may still hold them).
    /// </summary>
    private static string OperationNameSeed(string raftDirectory)
    {
        var path = Path.Combine(raftDirectory, "operation-name-seed");
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }

        var seed = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            file.Write(System.Text.Encoding.ASCII.GetBytes(seed));
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
        return seed;
    }

    private static GetCacheStatsResponse BuildCacheStats(FasterBlobStore store, CompletenessCheckingActionCache actionCache, SchedulerState state, long casMaxBytes)
    {
        var blobs = store.GetStats();
        var lookups = actionCache.GetStats();
        var results = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var entry in state.Cache.OldestFirst())
        {
            results[entry.InstanceName] = results.GetValueOrDefault(entry.InstanceName) + 1;
        }

        var response = new GetCacheStatsResponse
        {
            MaxBytes = casMaxBytes,
            Total = new CacheStats
            {
                Hits = lookups.Hits,
                Misses = lookups.Misses,
                Incomplete = lookups.Incomplete,
                Blobs = blobs.Blobs,
                Bytes = blobs.Bytes,
                Evictions = blobs.Evictions,
                Corrupt = blobs.Corrupt,
                ActionResults = state.Cache.Count,
            },
        };
        var names = new SortedSet<string>(blobs.Instances.Keys, StringComparer.Ordinal);
        names.UnionWith(lookups.Instances.Keys);
        names.UnionWith(results.Keys);
        foreach (var name in names)
        {
            var row = new CacheStats { InstanceName = name, ActionResults = results.GetValueOrDefault(name) };
            if (blobs.Instances.TryGetValue(name, out var b))
            {
                row.Blobs = b.Blobs;
                row.Bytes = b.Bytes;
            }

            if (lookups.Instances.TryGetValue(name, out var l))
            {
                row.Hits = l.Hits;
                row.Misses = l.Misses;
                row.Incomplete = l.Incomplete;
            }

            response.Instances.Add(row);
        }

        return response;
    }

    private sealed class DisposeAction(Action dispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            dispose();
            return ValueTask.CompletedTask;
        }
    }
}
