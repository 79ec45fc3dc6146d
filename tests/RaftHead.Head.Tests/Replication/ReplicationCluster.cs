using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftHead.Head.Hosting;
using RaftHead.Head.Reapi;
using RaftHead.Head.Replication;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using RaftHead.Storage.Remote;
using RaftHead.Testing;

namespace RaftHead.Head.Tests.Replication;

/// <summary>
/// Three heads in process, each a FASTER CAS behind CasService and ByteStreamService on a loopback port, with a
/// <see cref="ReplicatedBlobStore"/> over the other two. Each head's local store is observed (writes counted, reads
/// optionally corrupted), and the services store replica copies there directly, as a head does.
/// </summary>
internal sealed class ReplicationCluster : IAsyncDisposable
{
    private readonly GrpcChannels _peerChannels = new(HeadConnection.ChannelSettings);

    private ReplicationCluster(TestHead[] heads)
    {
        Heads = heads;
    }

    public TestHead[] Heads { get; }

    /// <param name="corruptReadsOn">The head (0-based) whose store serves every blob with a byte flipped, if any.</param>
    public static async Task<ReplicationCluster> StartAsync(int? corruptReadsOn = null)
    {
        var heads = new TestHead[3];
        for (var i = 0; i < heads.Length; i++)
        {
            heads[i] = await TestHead.StartAsync(corruptReads: corruptReadsOn == i);
        }

        var cluster = new ReplicationCluster(heads);
        foreach (var head in heads)
        {
            var peers = heads.Where(h => h != head).Select(h => h.Endpoint).ToArray();
            head.Replicated = new ReplicatedBlobStore(head.Local, peers, cluster._peerChannels, new ReplicatedBlobStoreOptions { PeerCallTimeoutMs = 5_000, PeerTransferTimeoutMs = 20_000 }, logger: null);
            head.Front.Target = head.Replicated;
        }

        return cluster;
    }

    public int TotalWrites => Heads.Sum(h => h.Local.Writes);

    public async ValueTask DisposeAsync()
    {
        foreach (var head in Heads)
        {
            await head.DisposeAsync();
        }

        _peerChannels.Dispose();
    }

    internal sealed class TestHead : IAsyncDisposable
    {
        private readonly TempDirectory _data;
        private readonly FasterBlobStore _faster;

        private TestHead(TempDirectory data, FasterBlobStore faster, ObservedBlobStore local, LateBoundBlobStore front, GrpcServer server)
        {
            _data = data;
            _faster = faster;
            Local = local;
            Front = front;
            Server = server;
            Endpoint = server.Address.Authority;
            Channel = GrpcChannels.Create(server.Address, new GrpcChannelSettings { RetryAttemptsMax = 1 });
            Rpc = new ReapiClients(Channel);
        }

        public ObservedBlobStore Local { get; }

        public LateBoundBlobStore Front { get; }

        public ReplicatedBlobStore? Replicated { get; set; }

        public GrpcServer Server { get; }

        /// <summary>host:port, as peers name it.</summary>
        public string Endpoint { get; }

        public GrpcChannel Channel { get; }

        public ReapiClients Rpc { get; }

        /// <summary>Puts a blob into this head's store alone, as if only it had been written here.</summary>
        public ValueTask PlantAsync(Build.Bazel.Remote.Execution.V2.Digest digest, byte[] data) =>
            _faster.PutAsync("", digest, data, CancellationToken.None);

        public static async Task<TestHead> StartAsync(bool corruptReads)
        {
            var data = new TempDirectory("rh-replication-test-");
            var faster = await FasterBlobStore.OpenAsync(
                SmallCas.Options(data.Path),
                CancellationToken.None);
            var local = new ObservedBlobStore(faster) { CorruptReads = corruptReads };
            var front = new LateBoundBlobStore();
            var reapi = new ReapiOptions();
            var server = GrpcServer.Create(
                new GrpcServerOptions { Port = 0 },
                (services, _) =>
                {
                    services.AddSingleton(new CasService(front, reapi, localOnly: local));
                    services.AddSingleton(new ByteStreamService(front, reapi, localOnly: local));
                },
                endpoints =>
                {
                    endpoints.MapGrpcService<CasService>();
                    endpoints.MapGrpcService<ByteStreamService>();
                },
                health => health.AddCheck("cas", () => HealthCheckResult.Healthy()));
            await server.StartAsync();
            return new TestHead(data, faster, local, front, server);
        }

        public async ValueTask DisposeAsync()
        {
            Channel.Dispose();
            if (Replicated is not null)
            {
                await Replicated.DisposeAsync();
            }

            await Server.DisposeAsync();
            await _faster.DisposeAsync();
            _data.Dispose();
        }
    }
}
