using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using RaftHead.Head.Admin;
using RaftHead.Head.Execution;
using RaftHead.Head.Hosting;
using RaftHead.Head.Reapi;
using RaftHead.Protocol.Runner;
using RaftHead.Protocol.V1;
using RaftHead.Storage;

namespace RaftHead.Head;

/// <summary>
/// One head without replication (<c>rh serve</c>): the FASTER-backed CAS and action cache served over REAPI, and,
/// with execution enabled, a local scheduler running actions through the runner the host supplies. Composed here and
/// nowhere else.
/// </summary>
public sealed class SingleNodeHead : IAsyncDisposable
{
    private readonly FasterBlobStore _store;
    private readonly CompletenessCheckingActionCache _actionCache;
    private readonly ByteStreamService _byteStream;
    private readonly IActionRunner? _runner;
    private readonly LocalScheduler? _scheduler;
    private readonly GrpcServer _server;
    private readonly SingleNodeOptions _options;

    private SingleNodeHead(SingleNodeOptions options, FasterBlobStore store, CompletenessCheckingActionCache actionCache, ByteStreamService byteStream, IActionRunner? runner, LocalScheduler? scheduler, GrpcServer server)
    {
        _options = options;
        _store = store;
        _actionCache = actionCache;
        _byteStream = byteStream;
        _runner = runner;
        _scheduler = scheduler;
        _server = server;
    }

    /// <summary>The address clients dial, e.g. <c>http://127.0.0.1:8980</c>.</summary>
    public Uri Address => _server.Address;

    /// <param name="options">Where and what to serve.</param>
    /// <param name="runnerFactory">
    /// Makes the runner actions execute on, given this node's CAS; required when execution is enabled. The head owns
    /// what it returns and disposes it (if disposable) on stop.
    /// </param>
    /// <param name="cancellationToken">Cancels start-up.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    public static async Task<SingleNodeHead> StartAsync(SingleNodeOptions options, Func<IBlobStore, IActionRunner>? runnerFactory, CancellationToken cancellationToken, ILoggerFactory? loggerFactory = null)
    {
        if (options.ExecutionEnabled && runnerFactory is null)
        {
            throw new ArgumentException("Execution is enabled but no runner was given.", nameof(runnerFactory));
        }

        var store = await FasterBlobStore.OpenAsync(
            new FasterBlobStoreOptions { DataDirectory = Path.Combine(options.DataDirectory, "cas"), MaxBytes = options.CasMaxBytes },
            cancellationToken).ConfigureAwait(false);
        IActionRunner? runner = null;
        LocalScheduler? scheduler = null;
        try
        {
            var actionCache = new CompletenessCheckingActionCache(new FasterActionCache(store), store);
            var reapi = options.Reapi with { ExecutionEnabled = options.ExecutionEnabled };
            var byteStream = new ByteStreamService(store, reapi, options.TimeProvider);
            if (options.ExecutionEnabled)
            {
                runner = runnerFactory!(store);

                // Execute looks the action up again after the client's own GetActionResult; its lookups get their own
                // counters so the cache statistics count what clients asked, once.
                var executionCache = new CompletenessCheckingActionCache(new FasterActionCache(store), store);
                scheduler = new LocalScheduler(store, executionCache, runner, options.Execution, options.TimeProvider, loggerFactory?.CreateLogger<LocalScheduler>());
            }

            var schedulerForAdmin = scheduler;
            var admin = new AdminService(
                () => BuildCacheStats(store, actionCache, options.CasMaxBytes),
                request => BuildOperations(schedulerForAdmin, options.Execution.Slots, request));
            var server = GrpcServer.Create(
                new GrpcServerOptions { Address = options.Address, Port = options.Port },
                (services, grpc) =>
                {
                    services.AddSingleton(new CapabilitiesService(reapi));
                    services.AddSingleton(new CasService(store, reapi));
                    services.AddSingleton(byteStream);
                    services.AddSingleton(new ActionCacheService(actionCache, store, reapi));
                    services.AddSingleton(admin);
                    grpc.AddServiceOptions<CasService>(o => o.MaxReceiveMessageSize = reapi.CasReceiveMessageBytesMax);
                    grpc.AddServiceOptions<ByteStreamService>(o => o.MaxReceiveMessageSize = reapi.ByteStreamReceiveMessageBytesMax);
                    if (scheduler is not null)
                    {
                        services.AddSingleton(new ExecutionService(scheduler));
                        services.AddSingleton(new OperationsService(scheduler));
                    }
                },
                endpoints =>
                {
                    endpoints.MapGrpcService<CapabilitiesService>();
                    endpoints.MapGrpcService<CasService>();
                    endpoints.MapGrpcService<ByteStreamService>();
                    endpoints.MapGrpcService<ActionCacheService>();
                    endpoints.MapGrpcService<AdminService>();
                    if (scheduler is not null)
                    {
                        endpoints.MapGrpcService<ExecutionService>();
                        endpoints.MapGrpcService<OperationsService>();
                    }
                },
                health => health.AddCheck("storage", () => store.IsOpen ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("the CAS is closed")),
                loggerFactory);
            scheduler?.Start();
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
            return new SingleNodeHead(options, store, actionCache, byteStream, runner, scheduler, server);
        }
        catch
        {
            if (scheduler is not null)
            {
                await scheduler.DisposeAsync().ConfigureAwait(false);
            }

            if (runner is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync().ConfigureAwait(false);
            }

            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public GetCacheStatsResponse CacheStats() => BuildCacheStats(_store, _actionCache, _options.CasMaxBytes);

    public async ValueTask DisposeAsync()
    {
        // The scheduler first: it ends open Execute streams with UNAVAILABLE so the server's stop need not wait on them.
        if (_scheduler is not null)
        {
            await _scheduler.DisposeAsync().ConfigureAwait(false);
        }

        await _server.DisposeAsync().ConfigureAwait(false);
        if (_runner is IAsyncDisposable runner)
        {
            await runner.DisposeAsync().ConfigureAwait(false);
        }

        await _byteStream.DisposeAsync().ConfigureAwait(false);
        await _store.DisposeAsync().ConfigureAwait(false);
    }

    private static ListOperationsResponse BuildOperations(LocalScheduler? scheduler, int slots, ListOperationsRequest request)
    {
        var response = new ListOperationsResponse { ExecutionEnabled = scheduler is not null };
        if (scheduler is null)
        {
            return response;
        }

        response.Queued = scheduler.QueuedCount;
        response.Running = scheduler.RunningCount;
        response.Slots = slots;
        var operations = scheduler.Snapshot();
        for (var i = operations.Count - 1; i >= 0; i--)
        {
            var op = operations[i];
            if (request.Stages.Count > 0 && !request.Stages.Contains(op.Stage))
            {
                continue;
            }

            var summary = new OperationSummary
            {
                Name = op.Name,
                InstanceName = op.InstanceName,
                ActionDigest = op.ActionDigest,
                Stage = op.Stage,
                QueuedAt = Timestamp.FromDateTimeOffset(op.QueuedAt),
                Worker = op.Worker ?? "",
                CachedResult = op.CachedResult,
                ToolInvocationId = op.ToolInvocationId ?? "",
            };
            if (op.StartedAt is { } started)
            {
                summary.StartedAt = Timestamp.FromDateTimeOffset(started);
            }

            if (op.CompletedAt is { } completed)
            {
                summary.CompletedAt = Timestamp.FromDateTimeOffset(completed);
            }

            if (op.ExitCode is { } exit)
            {
                summary.ExitCode = exit;
            }

            if (op.StatusCode is { } code)
            {
                summary.StatusCode = code;
            }

            response.Operations.Add(summary);
            if (request.Limit > 0 && response.Operations.Count == request.Limit)
            {
                break;
            }
        }

        return response;
    }

    private static GetCacheStatsResponse BuildCacheStats(FasterBlobStore store, CompletenessCheckingActionCache actionCache, long casMaxBytes)
    {
        var blobs = store.GetStats();
        var lookups = actionCache.GetStats();
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
                ActionResults = blobs.ActionResults,
            },
        };
        var names = new SortedSet<string>(blobs.Instances.Keys, StringComparer.Ordinal);
        names.UnionWith(lookups.Instances.Keys);
        foreach (var name in names)
        {
            var row = new CacheStats { InstanceName = name };
            if (blobs.Instances.TryGetValue(name, out var b))
            {
                row.Blobs = b.Blobs;
                row.Bytes = b.Bytes;
                row.ActionResults = b.ActionResults;
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
}
