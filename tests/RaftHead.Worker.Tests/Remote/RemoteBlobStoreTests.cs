using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RaftHead.Head;
using RaftHead.Head.Hosting;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using RaftHead.Storage.Remote;
using RaftHead.Testing;

namespace RaftHead.Worker.Tests.Remote;

public sealed class RemoteBlobStoreTests : IAsyncLifetime
{
    private const int Large = (5 * 1024 * 1024) + 123; // past the 4 MiB a batch may carry

    private readonly TempDirectory _root = new("rh-remote-store-test-");
    private readonly GrpcChannels _channels = new(HeadConnection.ChannelSettings);
    private HeadNode _head = null!;

    public async Task InitializeAsync() =>
        _head = await HeadNode.StartAsync(new HeadNodeOptions { DataDirectory = _root.Combine("head"), Port = 0, CasMaxBytes = 1L << 30 }, CancellationToken.None);

    public async Task DisposeAsync()
    {
        _channels.Dispose();
        await _head.DisposeAsync();
        _root.Dispose();
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(Large)]
    public async Task A_blob_put_is_found_and_read_back_whole(int size)
    {
        var store = Store(_head.Address.Authority);
        var (bytes, digest) = Blob(size);
        var missing = new List<Digest>();
        await store.FindMissingAsync("", new[] { digest }, missing, CancellationToken.None);
        Assert.Equal(new[] { digest }, missing);

        await store.PutAsync("", digest, bytes, CancellationToken.None);

        missing.Clear();
        await store.FindMissingAsync("", new[] { digest }, missing, CancellationToken.None);
        Assert.Empty(missing);
        Assert.Equal(bytes, await ReadAllAsync(store, digest));
    }

    [Theory]
    [InlineData(3000)]
    [InlineData(Large)]
    public async Task A_blob_written_in_pieces_is_stored_and_read_back(int size)
    {
        var store = Store(_head.Address.Authority);
        var (bytes, digest) = Blob(size);

        await using (var writer = store.BeginWrite("", digest))
        {
            for (var at = 0; at < bytes.Length; at += 64 * 1024)
            {
                await writer.WriteAsync(bytes.AsMemory(at, Math.Min(64 * 1024, bytes.Length - at)), CancellationToken.None);
            }

            await writer.CommitAsync(CancellationToken.None);
        }

        Assert.Equal(bytes, await ReadAllAsync(store, digest));
    }

    [Fact]
    public async Task A_range_of_a_large_blob_reads_just_that_range()
    {
        var store = Store(_head.Address.Authority);
        var (bytes, digest) = Blob(Large);
        await store.PutAsync("", digest, bytes, CancellationToken.None);

        await using var stream = await store.OpenReadAsync("", digest, 1_000_000, 2_000_000, CancellationToken.None);
        var read = new MemoryStream();
        await stream!.CopyToAsync(read);

        Assert.Equal(bytes.AsSpan(1_000_000, 2_000_000).ToArray(), read.ToArray());
    }

    [Theory]
    [InlineData(10)]
    [InlineData(Large)]
    public async Task An_absent_blob_reads_as_null(int size)
    {
        var store = Store(_head.Address.Authority);

        Assert.Null(await store.OpenReadAsync("", Blob(size).Digest, 0, 0, CancellationToken.None));
    }

    [Fact]
    public async Task Bytes_that_are_not_the_digest_are_refused_before_they_are_sent()
    {
        var store = Store(_head.Address.Authority);
        var (bytes, digest) = Blob(100);
        bytes[0] ^= 1;

        await Assert.ThrowsAsync<BlobDigestMismatchException>(() => store.PutAsync("", digest, bytes, CancellationToken.None).AsTask());
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(Large)]
    public async Task A_read_that_does_not_match_its_digest_is_rejected(int size)
    {
        var (bytes, digest) = Blob(size);
        var liar = new LyingCas(bytes);
        await using var server = GrpcServer.Create(
            new GrpcServerOptions { Port = 0 },
            (services, _) => services.AddSingleton(liar.Cas).AddSingleton(liar.ByteStream),
            endpoints =>
            {
                endpoints.MapGrpcService<LyingCas.CasPart>();
                endpoints.MapGrpcService<LyingCas.ByteStreamPart>();
            },
            _ => { });
        await server.StartAsync();
        var store = Store(server.Address.Authority);

        var error = await Assert.ThrowsAsync<BlobVerificationException>(() => ReadAllAsync(store, digest));

        Assert.Contains(digest.Hash, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_store_moves_to_the_next_head_when_the_first_is_down()
    {
        var store = Store(TestServers.DeadEndpoint(), _head.Address.Authority);
        var (bytes, digest) = Blob(Large);

        await store.PutAsync("", digest, bytes, CancellationToken.None);

        Assert.Equal(bytes, await ReadAllAsync(store, digest));
    }

    /// <summary>The heads as a worker without peers sees them: <see cref="WorkerStorage"/>'s composition.</summary>
    private IBlobStore Store(params string[] endpoints) =>
        WorkerStorage.Compose(new HeadConnection(endpoints, _channels, new HeadConnectionOptions { UnavailableBudgetMs = 5_000 }), _channels, cache: null, "test-worker", peers: false).Store;

    private static (byte[] Bytes, Digest Digest) Blob(int size)
    {
        var bytes = RandomNumberGenerator.GetBytes(size);
        return (bytes, Digests.Compute(bytes));
    }

    private static async Task<byte[]> ReadAllAsync(IBlobStore store, Digest digest)
    {
        await using var stream = await store.OpenReadAsync("", digest, 0, 0, CancellationToken.None)
            ?? throw new InvalidOperationException("the blob is missing");
        var read = new MemoryStream();
        await stream.CopyToAsync(read);
        return read.ToArray();
    }
}
