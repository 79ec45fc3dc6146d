using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftHead.Bench.Storage;
using RaftHead.Bench.Wire;
using RaftHead.Head;
using RaftHead.Head.Hosting;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage.Remote;
using RaftHead.Worker.Peer;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Bench.Worker;

/// <summary>
/// Whole-blob fetches into a fresh worker's file cache (<see cref="FileCache.GetAsync"/>, as the runner materialises an
/// input): from a peer (a <see cref="PeerFetchingBlobStore"/> asking the head's directory, reading the holder's
/// <see cref="PeerBlobServer"/>, verifying) and from the head over ByteStream (<see cref="RemoteBlobStore"/>), next to
/// the same bytes streamed by the rpc scenario's Download on grpc-dotnet as RaftHead configures it. Every case fetches
/// each blob of its set once into a reader cache made for that case, so no fetch is answered from the reader's cache.
/// </summary>
internal sealed class FetchPhase
{
    public const string Raw = "loopback gRPC stream (rpc scenario's Download, 256 KiB messages)";
    public const string Peer = "peer: PeerFetchingBlobStore ← PeerBlobServer";
    public const string Head = "head: RemoteBlobStore ← HeadNode";
    public const string PeerNoReadAhead = "peer without read-ahead (ReadAheadMessages = 0)";
    public const string PeerFileSpool = "peer, spooled to a cache file at any size (SpoolInMemoryMaxBytes = 0)";
    public const string PeerRead = "part: peer ByteStream Read alone (no where-is, no verify, nothing kept)";
    public const string WhereIs = "part: where-is on the head alone";
    public const string Hash = "part: SHA-256 of the holder's file, 256 KiB reads";
    public const string Keep = "part: FileCache.GetAsync copying the holder's file (no network, no verify)";

    /// <summary>The sides compared: the raw stream, the two fetches and the parts that split the peer fetch's time.</summary>
    public static readonly string[] AllSides = [Raw, Peer, Head, PeerNoReadAhead, PeerFileSpool, PeerRead, WhereIs, Hash, Keep];

    public static readonly string[] MainSides = [Raw, Peer, Head, PeerNoReadAhead];

    /// <summary>As the peer and the head send blobs.</summary>
    private const int MessageBytes = 256 * 1024;

    private readonly WorkerBenchOptions _options;
    private readonly TextWriter _progress;

    public FetchPhase(WorkerBenchOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
    }

    public async Task<List<FetchRound>> RunAsync(HeadNode head, BenchWorker holder, string directory, CancellationToken cancellationToken)
    {
        await using var raw = GrpcServer.Create(
            new GrpcServerOptions { Port = 0 },
            (services, _) => services.AddSingleton(new BenchService()),
            endpoints => endpoints.MapGrpcService<BenchService>(),
            health => health.AddCheck("bench", () => HealthCheckResult.Healthy()));
        await raw.StartAsync(cancellationToken).ConfigureAwait(false);
        using var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        var download = new Wire.Bench.BenchClient(channels.For(raw.Address.Authority));
        var heads = new HeadConnection([head.Address.Authority], channels);
        var locator = new HeadBlobLocator(heads, "bench-reader");

        var sets = new Dictionary<int, Digest[]>();
        foreach (var size in _options.BlobSizes)
        {
            sets[size] = await PlaceAsync(head, holder.Cache, size, cancellationToken).ConfigureAwait(false);
        }

        await AwaitDirectoryAsync(locator, holder.Server.Endpoint, sets.Values.SelectMany(s => s).ToArray(), cancellationToken).ConfigureAwait(false);

        var sides = _options.SkipParts ? MainSides : AllSides;

        // Warm-up: every side once over a few blobs of each size (JIT, connections, the holder's page cache).
        var results = new List<FetchRound>();
        foreach (var (size, set) in sets)
        {
            foreach (var side in sides)
            {
                await CaseAsync(side, size, set[..Math.Min(set.Length, 8)], 1, 0, download, heads, locator, channels, directory, holder, cancellationToken).ConfigureAwait(false);
            }
        }

        for (var r = 1; r <= _options.Rounds; r++)
        {
            foreach (var (size, set) in sets)
            {
                foreach (var concurrency in _options.Concurrency)
                {
                    for (var s = 0; s < sides.Length; s++)
                    {
                        var side = sides[(s + r) % sides.Length];
                        var round = await CaseAsync(side, size, set, concurrency, r, download, heads, locator, channels, directory, holder, cancellationToken).ConfigureAwait(false);
                        _progress.WriteLine($"worker: round {r} {side,-48} {size / 1024,6} KiB x{round.Blobs,4}, {concurrency} at once: {round.MegabytesPerSecond,7:0} MB/s, p50 {round.P50Ms,7:0.00} ms per blob");
                        results.Add(round);
                    }
                }
            }
        }

        return results;
    }

    /// <summary>Distinct random blobs of one size, held by the holder's cache (as outputs it produced) and by the head.</summary>
    private async Task<Digest[]> PlaceAsync(HeadNode head, FileCache cache, int size, CancellationToken cancellationToken)
    {
        var count = (int)Math.Clamp(_options.BytesPerSize / size, _options.BlobsMin, _options.BlobsMax);
        var digests = new Digest[count];
        var data = new byte[size];
        var random = new Random(size);
        for (var i = 0; i < count; i++)
        {
            random.NextBytes(data);
            var digest = digests[i] = Digests.Compute(data);
            await head.Blobs.PutAsync("", digest, data, cancellationToken).ConfigureAwait(false);
            var temp = cache.NewTempPath();
            await File.WriteAllBytesAsync(temp, data, cancellationToken).ConfigureAwait(false);
            cache.Adopt(temp, digest);
        }

        _progress.WriteLine($"worker: {count} blobs of {size / 1024} KiB on the head and in the holder's cache");
        return digests;
    }

    /// <summary>The holder reports its blobs in heartbeats; the peer side is only fair once the directory names it for all.</summary>
    private static async Task AwaitDirectoryAsync(HeadBlobLocator locator, string holder, Digest[] digests, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        foreach (var digest in digests)
        {
            while (!(await locator.PeersHoldingAsync(digest, cancellationToken).ConfigureAwait(false)).Contains(holder))
            {
                if (deadline.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new InvalidOperationException($"Benchmark self-check failed: the head's directory does not name {holder} for {digest.Hash} after 60 s.");
                }

                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The heads as a worker reads them (<see cref="RaftHead.Worker.WorkerStorage"/>'s bottom layers).</summary>
    private static RaftHead.Storage.VerifyingBlobStore Verified(HeadConnection heads) =>
        new RaftHead.Storage.VerifyingBlobStore(new RemoteBlobStore(heads), () => heads.Current);

    private static async Task<FetchRound> CaseAsync(
        string side, int size, Digest[] set, int concurrency, int round, Wire.Bench.BenchClient download, HeadConnection heads, HeadBlobLocator locator, GrpcChannels channels, string directory, BenchWorker holder, CancellationToken cancellationToken)
    {
        using var reader = new TempDirectory(directory, "reader");
        var cache = new FileCache(Path.Combine(reader.Path, "cache"));
        using var peers = side switch
        {
            Peer => new PeerFetchingBlobStore(Verified(heads), locator, channels, cache),
            PeerNoReadAhead => new PeerFetchingBlobStore(Verified(heads), locator, channels, cache, new PeerFetchOptions { ReadAheadMessages = 0 }),
            PeerFileSpool => new PeerFetchingBlobStore(Verified(heads), locator, channels, cache, new PeerFetchOptions { SpoolInMemoryMaxBytes = 0 }),
            _ => null,
        };
        RaftHead.Storage.IBlobStore other = side == Keep ? new HolderFileStore(holder.Cache) : Verified(heads);
        var samples = new List<long>[concurrency];
        long next = -1;
        var clock = Stopwatch.StartNew();
        var fetchers = new Task[concurrency];
        for (var f = 0; f < concurrency; f++)
        {
            var mine = samples[f] = new List<long>(set.Length);
            fetchers[f] = Task.Run(
                async () =>
                {
                    long i;
                    while ((i = Interlocked.Increment(ref next)) < set.Length)
                    {
                        var before = Stopwatch.GetTimestamp();
                        if (side == Raw)
                        {
                            await StreamAsync(download, size, cancellationToken).ConfigureAwait(false);
                        }
                        else if (side == PeerRead)
                        {
                            await ReadPeerAsync(new Google.ByteStream.ByteStream.ByteStreamClient(channels.For(holder.Server.Endpoint)), set[i], cancellationToken).ConfigureAwait(false);
                        }
                        else if (side == WhereIs)
                        {
                            Check((await locator.PeersHoldingAsync(set[i], cancellationToken).ConfigureAwait(false)).Contains(holder.Server.Endpoint), "where-is names the holder");
                        }
                        else if (side == Hash)
                        {
                            await HashAsync(holder.Cache, set[i], cancellationToken).ConfigureAwait(false);
                        }
                        else
                        {
                            var path = await cache.GetAsync(peers ?? other, "", set[i], executable: false, cancellationToken).ConfigureAwait(false);
                            Check(path is not null && new FileInfo(path).Length == size, $"{side} fetched {set[i].Hash}");
                        }

                        mine.Add(Stopwatch.GetTimestamp() - before);
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(fetchers).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        if (peers is not null)
        {
            Check(peers.BlobsFromPeers == set.Length && peers.BlobsFromHeads == 0 && peers.DigestFailures == 0, $"every blob from the peer (peers {peers.BlobsFromPeers}, heads {peers.BlobsFromHeads}, corrupt {peers.DigestFailures} of {set.Length})");
        }

        var all = samples.SelectMany(s => s).ToList();
        var (p50Us, p99Us) = Latencies.Percentiles(all);
        return new FetchRound(side, size, concurrency, round, set.Length, (long)set.Length * size, seconds, p50Us / 1000, p99Us / 1000);
    }

    private static async Task ReadPeerAsync(Google.ByteStream.ByteStream.ByteStreamClient client, Digest digest, CancellationToken cancellationToken)
    {
        using var call = client.Read(new Google.ByteStream.ReadRequest { ResourceName = $"blobs/{Digests.ToResourceString(digest)}" }, cancellationToken: cancellationToken);
        long received = 0;
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            received += call.ResponseStream.Current.Data.Length;
        }

        Check(received == digest.SizeBytes, "peer read length");
    }

    private static async Task HashAsync(FileCache cache, Digest digest, CancellationToken cancellationToken)
    {
        await using var file = cache.TryOpenRead(digest) ?? throw new InvalidOperationException($"Benchmark self-check failed: the holder lost {digest.Hash}.");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(MessageBytes);
        try
        {
            int n;
            while ((n = await file.ReadAsync(buffer.AsMemory(0, MessageBytes), cancellationToken).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        Check(Convert.ToHexStringLower(hash.GetHashAndReset()) == digest.Hash, "the holder's file hashes to its digest");
    }

    private static async Task StreamAsync(Wire.Bench.BenchClient client, int size, CancellationToken cancellationToken)
    {
        var messageBytes = Math.Min(size, MessageBytes);
        var messages = size / messageBytes;
        using var call = client.Download(new DownloadRequest { Messages = messages, MessageBytes = messageBytes, Mode = BufferMode.PooledWrap }, cancellationToken: cancellationToken);
        long received = 0;
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            received += call.ResponseStream.Current.Value.Length;
        }

        Check(received == (long)messages * messageBytes, "stream length");
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: {what}.");
        }
    }
}
