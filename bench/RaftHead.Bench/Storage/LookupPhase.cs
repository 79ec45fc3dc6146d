using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Head;
using RaftHead.Protocol.Client;
using RaftHead.Storage;

namespace RaftHead.Bench.Storage;

/// <summary>
/// FindMissingBlobs in process and over gRPC, and GetActionResult hit latency over loopback gRPC next to
/// redis-benchmark GET of a value as large as the serialized ActionResult, rounds alternating.
/// </summary>
internal sealed class LookupPhase
{
    public const string Ours = "RaftHead GetActionResult (gRPC)";
    public const string Redis = "Redis GET (redis-benchmark)";
    private const long Salt = 0x5EED;
    private const int Actions = 1000;

    private readonly StorageOptions _options;
    private readonly TextWriter _progress;
    private readonly TimeSpan _case;

    public LookupPhase(StorageOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
        _case = TimeSpan.FromSeconds(options.CaseSeconds);
    }

    public async Task<LookupResults> RunAsync(CancellationToken cancellationToken)
    {
        var population = _options.FindMissingPopulation - (_options.FindMissingPopulation % _options.FindMissingBatch);
        var digests = new Digest[population];
        for (var i = 0; i < population; i++)
        {
            digests[i] = TinyBlobs.Digest(Salt, i);
        }

        var batches = digests.Chunk(_options.FindMissingBatch).ToArray();
        var findMissing = new List<FindMissingRound>();

        // In process.
        using (var dir = new TempDirectory(_options.TempRoot, "findmissing"))
        {
            var store = await FasterBlobStore.OpenAsync(new FasterBlobStoreOptions { DataDirectory = dir.Path, CheckpointIntervalMs = 0 }, cancellationToken).ConfigureAwait(false);
            await using (store.ConfigureAwait(false))
            {
                var stored = await TinyBlobs.PutAsync(store, Salt, population, 64, TimeSpan.FromMinutes(5), _progress, cancellationToken).ConfigureAwait(false);
                Check(stored == population, "population stored");
                _progress.WriteLine($"findmissing: {population:N0} blobs stored in process");
                await FindMissingInProcessAsync(store, batches, 1, cancellationToken).ConfigureAwait(false); // warm-up
                foreach (var threads in new[] { 1, 2, 1, 2, 1, 2 })
                {
                    findMissing.Add(Report(await FindMissingInProcessAsync(store, batches, threads, cancellationToken).ConfigureAwait(false)));
                }
            }
        }

        // Over gRPC, and the action cache on the same head.
        using var headDir = new TempDirectory(_options.TempRoot, "lookup-head");
        await using var head = await HeadNode.StartAsync(new HeadNodeOptions { Port = 0, DataDirectory = headDir.Path }, cancellationToken).ConfigureAwait(false);
        using var channel = GrpcChannels.Create(head.Address, new GrpcChannelSettings());
        var clients = new ReapiClients(channel);
        await PopulateOverGrpcAsync(clients, batches, cancellationToken).ConfigureAwait(false);
        var requests = batches.Select(b =>
        {
            var request = new FindMissingBlobsRequest { InstanceName = CasPhase.Instance };
            request.BlobDigests.AddRange(b);
            return request;
        }).ToArray();
        await FindMissingOverGrpcAsync(clients, requests, 4, cancellationToken).ConfigureAwait(false); // warm-up
        foreach (var callers in new[] { 1, 8, 1, 8, 1, 8 })
        {
            findMissing.Add(Report(await FindMissingOverGrpcAsync(clients, requests, callers, cancellationToken).ConfigureAwait(false)));
        }

        var (lookups, resultBytes) = await StoreActionResultsAsync(clients, digests, cancellationToken).ConfigureAwait(false);
        _progress.WriteLine($"actioncache: {Actions} results stored, {resultBytes} bytes serialized each");
        var latency = new List<LatencyRound>();
        string? redisVersion = null;
        string? redisError = null;
        RedisBench? redis = null;
        if (!_options.SkipRedis)
        {
            try
            {
                redis = await RedisBench.StartAsync(_options.TempRoot, cancellationToken).ConfigureAwait(false);
                redisVersion = redis.Version;
                await redis.FillAsync(resultBytes, cancellationToken).ConfigureAwait(false);
                _progress.WriteLine($"redis: {redis.Version} on 127.0.0.1:{redis.Port}, {RedisBench.Keys} keys of {resultBytes} bytes");
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                redisError = e.Message;
                _progress.WriteLine($"redis: unavailable: {e.Message}");
                redis?.Dispose();
                redis = null;
            }
        }

        try
        {
            await GetActionResultsAsync(clients, lookups, 1, TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false); // warm-up
            await GetActionResultsAsync(clients, lookups, _options.LatencyCallers, TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            var redisRequests = (int)Math.Clamp(40_000 * _options.CaseSeconds, 10_000, 1_000_000);
            for (var r = 0; r < _options.Rounds; r++)
            {
                foreach (var callers in new[] { 1, _options.LatencyCallers })
                {
                    latency.Add(Report(await GetActionResultsAsync(clients, lookups, callers, _case, cancellationToken).ConfigureAwait(false)));
                    if (redis is not null)
                    {
                        var (rps, p50, p99) = await redis.GetAsync(callers, redisRequests, resultBytes, cancellationToken).ConfigureAwait(false);
                        latency.Add(Report(new LatencyRound(Redis, callers, p50, p99, rps)));
                    }
                }
            }
        }
        finally
        {
            redis?.Dispose();
        }

        return new LookupResults(findMissing, latency, population, resultBytes, redisVersion, redisError);
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: {what}.");
        }
    }

    private async Task<FindMissingRound> FindMissingInProcessAsync(FasterBlobStore store, Digest[][] batches, int threads, CancellationToken cancellationToken)
    {
        long digests = 0;
        long next = -1;
        var clock = Stopwatch.StartNew();
        var tasks = new Task[threads];
        for (var t = 0; t < threads; t++)
        {
            tasks[t] = Task.Run(
                async () =>
                {
                    var missing = new List<Digest>();
                    long mine = 0;
                    while (clock.Elapsed < _case && mine < 100_000_000)
                    {
                        var batch = batches[Interlocked.Increment(ref next) % batches.Length];
                        missing.Clear();
                        var pending = store.FindMissingAsync(CasPhase.Instance, batch, missing, cancellationToken);
                        if (!pending.IsCompletedSuccessfully)
                        {
                            await pending.ConfigureAwait(false);
                        }

                        Check(missing.Count == 0, "every digest present");
                        mine += batch.Length;
                    }

                    Interlocked.Add(ref digests, mine);
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        return new FindMissingRound($"in process, {batches[0].Length} per call", threads, digests, clock.Elapsed.TotalSeconds);
    }

    private async Task<FindMissingRound> FindMissingOverGrpcAsync(ReapiClients clients, FindMissingBlobsRequest[] requests, int callers, CancellationToken cancellationToken)
    {
        long digests = 0;
        long next = -1;
        var clock = Stopwatch.StartNew();
        var tasks = new Task[callers];
        for (var c = 0; c < callers; c++)
        {
            tasks[c] = Task.Run(
                async () =>
                {
                    long mine = 0;
                    while (clock.Elapsed < _case)
                    {
                        var request = requests[Interlocked.Increment(ref next) % requests.Length];
                        var response = await clients.Cas.FindMissingBlobsAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
                        Check(response.MissingBlobDigests.Count == 0, "every digest present (gRPC)");
                        mine += request.BlobDigests.Count;
                    }

                    Interlocked.Add(ref digests, mine);
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        return new FindMissingRound($"gRPC, {requests[0].BlobDigests.Count} per call", callers, digests, clock.Elapsed.TotalSeconds);
    }

    private async Task PopulateOverGrpcAsync(ReapiClients clients, Digest[][] batches, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        long next = -1;
        var tasks = Enumerable.Range(0, 16).Select(_ => Task.Run(
            async () =>
            {
                long b;
                while ((b = Interlocked.Increment(ref next)) < batches.Length)
                {
                    var request = new BatchUpdateBlobsRequest { InstanceName = CasPhase.Instance };
                    var start = b * batches[0].Length;
                    for (var i = 0; i < batches[b].Length; i++)
                    {
                        request.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = batches[b][i], Data = ByteString.CopyFrom(TinyBlobs.Data(Salt, start + i)) });
                    }

                    var response = await clients.Cas.BatchUpdateBlobsAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
                    Check(response.Responses.All(r => r.Status.Code == 0), "BatchUpdateBlobs statuses");
                }
            },
            cancellationToken)).ToArray();
        await Task.WhenAll(tasks).ConfigureAwait(false);
        _progress.WriteLine($"findmissing: {batches.Sum(b => b.Length):N0} blobs stored over gRPC (BatchUpdateBlobs, 16 calls in flight) in {clock.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>
    /// Results shaped like a small compile action: three output files, stdout and stderr digests, exit code and
    /// execution metadata; every blob they name is present, so the completeness check passes and a lookup is a hit.
    /// </summary>
    private static async Task<(GetActionResultRequest[] Lookups, int ResultBytes)> StoreActionResultsAsync(ReapiClients clients, Digest[] present, CancellationToken cancellationToken)
    {
        var lookups = new GetActionResultRequest[Actions];
        var sizes = new List<int>();
        var now = DateTime.UtcNow;
        for (var a = 0; a < Actions; a++)
        {
            var actionDigest = BlobSet.DigestOf(System.Text.Encoding.UTF8.GetBytes($"action {a}"));
            var result = new ActionResult
            {
                ExitCode = 0,
                StdoutDigest = present[(a * 5) % present.Length],
                StderrDigest = present[((a * 5) + 1) % present.Length],
                ExecutionMetadata = new ExecutedActionMetadata
                {
                    Worker = "worker-03.rafthead.local",
                    QueuedTimestamp = Timestamp.FromDateTime(now),
                    WorkerStartTimestamp = Timestamp.FromDateTime(now.AddMilliseconds(3)),
                    ExecutionStartTimestamp = Timestamp.FromDateTime(now.AddMilliseconds(5)),
                    ExecutionCompletedTimestamp = Timestamp.FromDateTime(now.AddMilliseconds(850)),
                    WorkerCompletedTimestamp = Timestamp.FromDateTime(now.AddMilliseconds(870)),
                },
            };
            for (var f = 0; f < 3; f++)
            {
                result.OutputFiles.Add(new OutputFile
                {
                    Path = $"bazel-out/k8-fastbuild/bin/pkg{a % 37}/lib/obj_{a}_{f}.o",
                    Digest = present[((a * 5) + 2 + f) % present.Length],
                    IsExecutable = f == 2,
                });
            }

            sizes.Add(result.CalculateSize());
            await clients.ActionCache.UpdateActionResultAsync(
                new UpdateActionResultRequest { InstanceName = CasPhase.Instance, ActionDigest = actionDigest, ActionResult = result },
                cancellationToken: cancellationToken).ConfigureAwait(false);
            lookups[a] = new GetActionResultRequest { InstanceName = CasPhase.Instance, ActionDigest = actionDigest };
        }

        return (lookups, (int)Math.Round(sizes.Average()));
    }

    /// <summary>Callers each run GetActionResult back to back until the round ends; every call's latency is kept.</summary>
    private static async Task<LatencyRound> GetActionResultsAsync(ReapiClients clients, GetActionResultRequest[] lookups, int callers, TimeSpan duration, CancellationToken cancellationToken)
    {
        long next = -1;
        var perCaller = new List<long>[callers];
        var clock = Stopwatch.StartNew();
        var tasks = new Task[callers];
        for (var c = 0; c < callers; c++)
        {
            var samples = perCaller[c] = new List<long>(100_000);
            tasks[c] = Task.Run(
                async () =>
                {
                    while (clock.Elapsed < duration && samples.Count < 2_000_000)
                    {
                        var request = lookups[Interlocked.Increment(ref next) % lookups.Length];
                        var before = Stopwatch.GetTimestamp();
                        var result = await clients.ActionCache.GetActionResultAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
                        samples.Add(Stopwatch.GetTimestamp() - before);
                        Check(result.OutputFiles.Count == 3, "a complete ActionResult");
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var all = perCaller.SelectMany(s => s).ToList();
        var (p50, p99) = Latencies.Percentiles(all);
        return new LatencyRound(Ours, callers, p50, p99, all.Count / seconds);
    }

    private FindMissingRound Report(FindMissingRound round)
    {
        _progress.WriteLine(FormattableString.Invariant($"findmissing: {round.Where,-24} {round.Callers,2} caller(s): {round.DigestsPerSecond,12:N0} digests/s"));
        return round;
    }

    private LatencyRound Report(LatencyRound round)
    {
        _progress.WriteLine(FormattableString.Invariant($"latency: {round.System,-32} {round.Callers,2} caller(s): p50 {round.P50Us,7:0.0} us  p99 {round.P99Us,8:0.0} us  {round.OpsPerSecond,8:0} ops/s"));
        return round;
    }
}
