using RaftHead.Head.Admin;
using RaftHead.Head.Reapi;
using RaftHead.Protocol.V1;
using RaftHead.Rpc.Server;
using RaftHead.Storage;

namespace RaftHead.Head;

/// <summary>
/// One head without replication (<c>rh serve</c>): the FASTER-backed CAS and action cache served over REAPI,
/// composed here and nowhere else.
/// </summary>
public sealed class SingleNodeHead : IAsyncDisposable
{
    private readonly FasterBlobStore _store;
    private readonly CompletenessCheckingActionCache _actionCache;
    private readonly ByteStreamService _byteStream;
    private readonly RpcServer _server;
    private readonly long _casMaxBytes;

    private SingleNodeHead(FasterBlobStore store, CompletenessCheckingActionCache actionCache, ByteStreamService byteStream, RpcServer server, long casMaxBytes)
    {
        _store = store;
        _actionCache = actionCache;
        _byteStream = byteStream;
        _server = server;
        _casMaxBytes = casMaxBytes;
    }

    /// <summary>The address clients dial, e.g. <c>http://127.0.0.1:8980</c>.</summary>
    public Uri Address => _server.Address;

    public static async Task<SingleNodeHead> StartAsync(SingleNodeOptions options, CancellationToken cancellationToken)
    {
        var store = await FasterBlobStore.OpenAsync(
            new FasterBlobStoreOptions { DataDirectory = options.DataDirectory, MaxBytes = options.CasMaxBytes },
            cancellationToken).ConfigureAwait(false);
        try
        {
            var actionCache = new CompletenessCheckingActionCache(new FasterActionCache(store), store);
            var byteStream = new ByteStreamService(store, options.Reapi);
            var services = new[]
            {
                new CapabilitiesService(options.Reapi).Build(),
                new CasService(store, options.Reapi).Build(),
                byteStream.Build(),
                new ActionCacheService(actionCache, store, options.Reapi).Build(),
            };
            var server = new RpcServer(
                new RpcServerOptions { Address = options.Address, Port = options.Port },
                services.Append(new AdminService(() => BuildCacheStats(store, actionCache, options.CasMaxBytes)).Build()));
            var head = new SingleNodeHead(store, actionCache, byteStream, server, options.CasMaxBytes);
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
            return head;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public GetCacheStatsResponse CacheStats() => BuildCacheStats(_store, _actionCache, _casMaxBytes);

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

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync().ConfigureAwait(false);
        await _byteStream.DisposeAsync().ConfigureAwait(false);
        await _store.DisposeAsync().ConfigureAwait(false);
    }
}
