using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using RaftHead.Head.Admin;
using RaftHead.Head.Execution;
using RaftHead.Head.Reapi;
using RaftHead.Protocol.V1;
using RaftHead.Rpc.Server;
using RaftHead.Storage;
using RaftHead.Worker;

namespace RaftHead.Head;

/// <summary>
/// One head without replication (<c>rh serve</c>): the FASTER-backed CAS and action cache served over REAPI, and,
/// with execution enabled, a local scheduler running actions through the sandboxed runner. Composed here and
/// nowhere else.
/// </summary>
public sealed class SingleNodeHead : IAsyncDisposable
{
    private readonly FasterBlobStore _store;
    private readonly CompletenessCheckingActionCache _actionCache;
    private readonly ByteStreamService _byteStream;
    private readonly ActionRunner? _runner;
    private readonly LocalScheduler? _scheduler;
    private readonly RpcServer _server;
    private readonly SingleNodeOptions _options;

    private SingleNodeHead(SingleNodeOptions options, FasterBlobStore store, CompletenessCheckingActionCache actionCache, ByteStreamService byteStream, ActionRunner? runner, LocalScheduler? scheduler, RpcServer server)
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

    /// <summary>How actions are isolated, or null when this node does not execute.</summary>
    public Isolation? Isolation => _runner?.Isolation;

    public static async Task<SingleNodeHead> StartAsync(SingleNodeOptions options, CancellationToken cancellationToken, ILoggerFactory? loggerFactory = null)
    {
        var store = await FasterBlobStore.OpenAsync(
            new FasterBlobStoreOptions { DataDirectory = Path.Combine(options.DataDirectory, "cas"), MaxBytes = options.CasMaxBytes },
            cancellationToken).ConfigureAwait(false);
        ActionRunner? runner = null;
        LocalScheduler? scheduler = null;
        try
        {
            var actionCache = new CompletenessCheckingActionCache(new FasterActionCache(store), store);
            var reapi = options.Reapi with { ExecutionEnabled = options.ExecutionEnabled };
            var byteStream = new ByteStreamService(store, reapi);
            var services = new List<ServiceDefinition>
            {
                new CapabilitiesService(reapi).Build(),
                new CasService(store, reapi).Build(),
                byteStream.Build(),
                new ActionCacheService(actionCache, store, reapi).Build(),
            };
            if (options.ExecutionEnabled)
            {
                runner = new ActionRunner(
                    store,
                    new RunnerOptions
                    {
                        WorkDirectory = Path.Combine(options.DataDirectory, "work"),
                        WorkerId = options.Execution.WorkerName,
                        RunAsUser = options.RunAsUser,
                        DefaultTimeout = TimeSpan.FromMilliseconds(options.Execution.ActionTimeoutDefaultMs),
                        MaxTimeout = TimeSpan.FromMilliseconds(options.Execution.ActionTimeoutMaxMs),
                        WarmSandboxes = options.Execution.Slots + 1,
                    },
                    loggerFactory?.CreateLogger<ActionRunner>());
                // Execute looks the action up again after the client's own GetActionResult; its lookups get their own
                // counters so the cache statistics count what clients asked, once.
                var executionCache = new CompletenessCheckingActionCache(new FasterActionCache(store), store);
                scheduler = new LocalScheduler(store, executionCache, runner, options.Execution, TimeProvider.System, loggerFactory?.CreateLogger<LocalScheduler>());
                services.Add(new ExecutionService(scheduler).Build());
                services.Add(new OperationsService(scheduler).Build());
            }

            var schedulerForAdmin = scheduler;
            services.Add(new AdminService(
                () => BuildCacheStats(store, actionCache, options.CasMaxBytes),
                request => BuildOperations(schedulerForAdmin, options.Execution.Slots, request)).Build());
            var server = new RpcServer(new RpcServerOptions { Address = options.Address, Port = options.Port }, services, loggerFactory);
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

            if (runner is not null)
            {
                await runner.DisposeAsync().ConfigureAwait(false);
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
        if (_runner is not null)
        {
            await _runner.DisposeAsync().ConfigureAwait(false);
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
