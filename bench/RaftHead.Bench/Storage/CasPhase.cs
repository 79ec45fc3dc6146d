using System.Diagnostics;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using RaftHead.Head;
using RaftHead.Protocol.Client;
using RaftHead.Storage;

namespace RaftHead.Bench.Storage;

/// <summary>
/// CAS ingest and read throughput per blob size, next to raw single-core SHA-256 of the same size. In process it
/// drives <see cref="FasterBlobStore"/> through its public API the way the REAPI services do (PutAsync for blobs up to
/// <see cref="FasterBlobStoreOptions.BufferedBlobMaxBytes"/>, BeginWrite with 1 MiB chunks above); over gRPC it drives a
/// <see cref="HeadNode"/> on 127.0.0.1 the way Bazel does (batch calls for small blobs, ByteStream for large).
/// </summary>
internal sealed class CasPhase
{
    public const string Instance = "";
    public const int ChunkBytes = 1 << 20;
    private const int BatchBytes = 2 << 20;

    private static readonly int BufferedBlobMaxBytes = new FasterBlobStoreOptions { DataDirectory = "." }.BufferedBlobMaxBytes;

    private static readonly (int Size, int Blobs, int Writers)[] Plan =
    [
        (4 << 10, 50_000, 16),
        (64 << 10, 5_000, 16),
        (4 << 20, 100, 4),
        (256 << 20, 4, 2),
    ];

    private readonly StorageOptions _options;
    private readonly TextWriter _progress;
    private readonly TimeSpan _case;

    public CasPhase(StorageOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
        _case = TimeSpan.FromSeconds(options.CaseSeconds);
    }

    public double FsyncOf4KiBAppendUs { get; private set; }

    public async Task<IReadOnlyList<CasRow>> RunAsync(CancellationToken cancellationToken)
    {
        using var storeDir = new TempDirectory(_options.TempRoot, "cas");
        using var headDir = new TempDirectory(_options.TempRoot, "cas-head");
        using var scratch = new TempDirectory(_options.TempRoot, "cas-scratch");
        var rows = new List<CasRow>();
        await using var store = await FasterBlobStore.OpenAsync(
            new FasterBlobStoreOptions { DataDirectory = storeDir.Path, MaxBytes = 64L << 30, CheckpointIntervalMs = 0 },
            cancellationToken).ConfigureAwait(false);
        await using var head = await HeadNode.StartAsync(
            new HeadNodeOptions { Port = 0, DataDirectory = headDir.Path, CasMaxBytes = 64L << 30 },
            cancellationToken).ConfigureAwait(false);
        using var channel = GrpcChannels.Create(head.Address, new GrpcChannelSettings());
        var clients = new ReapiClients(channel);
        FsyncOf4KiBAppendUs = MeasureAppendFsyncUs(scratch.Path);
        _progress.WriteLine($"cas: a 4 KiB append + fsync takes {FsyncOf4KiBAppendUs:0} us here (median of 200)");

        var salt = 1L;
        foreach (var (size, blobs, writers) in Plan)
        {
            var sha = RawSha256MBps(size);
            var set = new BlobSet(size, 0, seed: size);
            var rawWrite = RawWriteMBps(scratch.Path, Math.Max(size, 64 << 20));
            _progress.WriteLine($"cas {Size(size)}: raw SHA-256 {sha:0} MB/s, raw pwrite + fsync {rawWrite:0} MB/s");

            var ingest1Split = new StepClock();
            var digests1 = Digests(set, ++salt, blobs);
            var ingest1 = await RunWorkersAsync(digests1.Set, digests1.Digests, 1, (buf, d, ct) => PutAsync(store, buf, d, ingest1Split, ct), cancellationToken).ConfigureAwait(false);
            Report($"{Size(size)} ingest, in process", ingest1);
            var digestsN = Digests(set, ++salt, blobs);
            var ingestN = await RunWorkersAsync(digestsN.Set, digestsN.Digests, writers, (buf, d, ct) => PutAsync(store, buf, d, null, ct), cancellationToken).ConfigureAwait(false);
            Report($"{Size(size)} ingest, in process", ingestN);

            var present = digests1.Digests.AsMemory(0, (int)ingest1.Operations);
            var readSplit = new StepClock();
            var read1 = await RunReadsAsync(present, 1, (d, buf, ct) => ReadAsync(store, d, buf, readSplit, ct), cancellationToken).ConfigureAwait(false);
            Report($"{Size(size)} read, in process", read1);
            var readN = await RunReadsAsync(present, writers, (d, buf, ct) => ReadAsync(store, d, buf, null, ct), cancellationToken).ConfigureAwait(false);
            Report($"{Size(size)} read, in process", readN);

            var digestsG = Digests(set, ++salt, blobs);
            Throughput grpcWrite, grpcRead;
            string grpcPath;
            if (size <= BufferedBlobMaxBytes)
            {
                var perBatch = Math.Max(1, BatchBytes / size);
                grpcPath = $"BatchUpdateBlobs / BatchReadBlobs, {perBatch} blobs per call";
                grpcWrite = await RunBatchesAsync(digestsG.Set, digestsG.Digests, perBatch, (req, ct) => BatchUpdateAsync(clients, req, ct), cancellationToken).ConfigureAwait(false);
                var presentG = digestsG.Digests.AsMemory(0, (int)grpcWrite.Operations).ToArray();
                grpcRead = await RunBatchReadsAsync(clients, presentG, perBatch, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                grpcPath = "ByteStream Write / Read, 1 MiB write chunks (server reads in 256 KiB)";
                grpcWrite = await RunWorkersAsync(digestsG.Set, digestsG.Digests, 1, (buf, d, ct) => ByteStreamWriteAsync(clients, buf, d, ct), cancellationToken).ConfigureAwait(false);
                var presentG = digestsG.Digests.AsMemory(0, (int)grpcWrite.Operations);
                grpcRead = await RunReadsAsync(presentG, 1, (d, _, ct) => ByteStreamReadAsync(clients, d, ct), cancellationToken).ConfigureAwait(false);
            }

            Report($"{Size(size)} write, gRPC", grpcWrite);
            Report($"{Size(size)} read, gRPC", grpcRead);

            rows.Add(new CasRow(
                size,
                sha,
                rawWrite,
                ingest1,
                ingestN,
                read1,
                readN,
                grpcWrite,
                grpcRead,
                grpcPath,
                ingest1Split.ToStepTimes($"store calls, {Size(size)} ingest, 1 writer, {ingest1.Operations} blobs", ingest1.Bytes),
                readSplit.ToStepTimes($"store calls, {Size(size)} read, 1 reader, {read1.Operations} reads", read1.Bytes)));
        }

        return rows;
    }

    public static double RawSha256MBps(int sizeBytes)
    {
        var data = new byte[sizeBytes];
        new Random(sizeBytes).NextBytes(data);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash); // warm-up
        long bytes = 0;
        var started = Stopwatch.GetTimestamp();
        var elapsed = 0.0;
        while (elapsed < 1.0 || bytes < 3L * sizeBytes)
        {
            SHA256.HashData(data, hash);
            bytes += sizeBytes;
            elapsed = Seconds(Stopwatch.GetTimestamp() - started);
        }

        return bytes / elapsed / 1e6;
    }

    /// <summary>
    /// The file system's part of ingest alone, measured just before each size's ingest (the page cache's state
    /// changes its speed on this VM a lot): a new file written in 1 MiB pwrites, then fsync, then deleted.
    /// </summary>
    public static double RawWriteMBps(string directory, int bytes)
    {
        var chunk = new byte[ChunkBytes];
        new Random(bytes).NextBytes(chunk);
        var path = Path.Combine(directory, $"raw-write-{Guid.NewGuid():N}");
        var started = Stopwatch.GetTimestamp();
        using (var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None))
        {
            for (long offset = 0; offset < bytes; offset += ChunkBytes)
            {
                RandomAccess.Write(file, chunk.AsSpan(0, (int)Math.Min(ChunkBytes, bytes - offset)), offset);
            }

            RandomAccess.FlushToDisk(file);
        }

        var seconds = Seconds(Stopwatch.GetTimestamp() - started);
        File.Delete(path);
        return bytes / seconds / 1e6;
    }

    public static string Size(long bytes) => bytes >= 1 << 20 ? $"{bytes >> 20} MiB" : $"{bytes >> 10} KiB";

    private static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    private static (BlobSet Set, Digest[] Digests) Digests(BlobSet body, long salt, int count)
    {
        var set = body.WithSalt(salt);
        return (set, set.Digests(count));
    }

    private static double MeasureAppendFsyncUs(string directory)
    {
        var samples = new List<long>();
        var block = new byte[4096 + 112];
        using var file = File.OpenHandle(Path.Combine(directory, "fsync-probe"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        for (var i = 0; i < 200; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            RandomAccess.Write(file, block, (long)i * block.Length);
            RandomAccess.FlushToDisk(file);
            samples.Add(Stopwatch.GetTimestamp() - t0);
        }

        return Latencies.Percentiles(samples).P50Us;
    }

    private static async Task PutAsync(FasterBlobStore store, byte[] data, Digest digest, StepClock? clock, CancellationToken cancellationToken)
    {
        if (data.Length <= BufferedBlobMaxBytes)
        {
            var t0 = Stopwatch.GetTimestamp();
            await store.PutAsync(Instance, digest, data, cancellationToken).ConfigureAwait(false);
            clock?.Add("PutAsync (verify SHA-256, append, group fsync, index)", t0);
            return;
        }

        var writer = store.BeginWrite(Instance, digest);
        await using (writer.ConfigureAwait(false))
        {
            var t0 = Stopwatch.GetTimestamp();
            for (var offset = 0; offset < data.Length; offset += ChunkBytes)
            {
                await writer.WriteAsync(data.AsMemory(offset, Math.Min(ChunkBytes, data.Length - offset)), cancellationToken).ConfigureAwait(false);
            }

            var t1 = clock?.Add("WriteAsync ×N (SHA-256 overlapped with the pwrite of each chunk)", t0) ?? 0;
            await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
            clock?.Add("CommitAsync (fsync, rename, dir fsync, index)", t1);
        }
    }

    private static async Task<long> ReadAsync(FasterBlobStore store, Digest digest, byte[] buffer, StepClock? clock, CancellationToken cancellationToken)
    {
        var t0 = Stopwatch.GetTimestamp();
        var stream = await store.OpenReadAsync(Instance, digest, 0, 0, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Benchmark self-check failed: blob {digest.Hash} missing.");
        var t1 = clock?.Add("OpenReadAsync (index, header)", t0) ?? 0;
        long total = 0;
        await using (stream.ConfigureAwait(false))
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                total += read;
            }
        }

        clock?.Add("drain the stream (1 MiB reads, SHA-256 verified as it streams)", t1);
        Check(total == digest.SizeBytes, "read length");
        return total;
    }

    private static async Task ByteStreamWriteAsync(ReapiClients clients, byte[] data, Digest digest, CancellationToken cancellationToken)
    {
        using var call = clients.ByteStream.Write(cancellationToken: cancellationToken);
        var resource = $"uploads/{Guid.NewGuid()}/blobs/{digest.Hash}/{digest.SizeBytes}";
        for (var offset = 0; offset < data.Length; offset += ChunkBytes)
        {
            var length = Math.Min(ChunkBytes, data.Length - offset);
            await call.RequestStream.WriteAsync(
                new WriteRequest
                {
                    ResourceName = offset == 0 ? resource : "",
                    WriteOffset = offset,
                    Data = UnsafeByteOperations.UnsafeWrap(data.AsMemory(offset, length)),
                    FinishWrite = offset + length == data.Length,
                },
                cancellationToken).ConfigureAwait(false);
        }

        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        var response = await call.ResponseAsync.ConfigureAwait(false);
        Check(response.CommittedSize == data.Length, "ByteStream committed size");
    }

    private static async Task<long> ByteStreamReadAsync(ReapiClients clients, Digest digest, CancellationToken cancellationToken)
    {
        using var call = clients.ByteStream.Read(new ReadRequest { ResourceName = $"blobs/{digest.Hash}/{digest.SizeBytes}" }, cancellationToken: cancellationToken);
        long total = 0;
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            total += call.ResponseStream.Current.Data.Length;
        }

        Check(total == digest.SizeBytes, "ByteStream read length");
        return total;
    }

    private static async Task BatchUpdateAsync(ReapiClients clients, BatchUpdateBlobsRequest request, CancellationToken cancellationToken)
    {
        var response = await clients.Cas.BatchUpdateBlobsAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        Check(response.Responses.Count == request.Requests.Count && response.Responses.All(r => r.Status.Code == 0), "BatchUpdateBlobs statuses");
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: {what}.");
        }
    }

    /// <summary>Workers claim blob indices in order until the blobs or the case time run out; every claimed blob is finished.</summary>
    private async Task<Throughput> RunWorkersAsync(BlobSet set, Digest[] digests, int workers, Func<byte[], Digest, CancellationToken, Task> operation, CancellationToken cancellationToken)
    {
        long next = -1;
        long done = 0;
        var buffers = Enumerable.Range(0, workers).Select(_ => set.NewBuffer()).ToArray(); // before the clock: a 256 MiB copy is slow
        var clock = Stopwatch.StartNew();
        var tasks = new Task[workers];
        for (var w = 0; w < workers; w++)
        {
            var buffer = buffers[w];
            tasks[w] = Task.Run(
                async () =>
                {
                    // Stop at the case time, but finish at least one blob per worker.
                    while (Interlocked.Read(ref next) < workers - 1 || clock.Elapsed < _case)
                    {
                        var i = Interlocked.Increment(ref next);
                        if (i >= digests.Length)
                        {
                            break;
                        }

                        set.Fill(buffer, i);
                        await operation(buffer, digests[i], cancellationToken).ConfigureAwait(false);
                        Interlocked.Increment(ref done);
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        Debug.Assert(done == Math.Min(next + 1, digests.Length) || done <= digests.Length, "every claimed blob is finished");
        return new Throughput(workers, done, done * set.SizeBytes, seconds);
    }

    /// <summary>Readers cycle over the present blobs until the case time (or a bound of 20 passes) runs out.</summary>
    private async Task<Throughput> RunReadsAsync(ReadOnlyMemory<Digest> present, int readers, Func<Digest, byte[], CancellationToken, Task<long>> read, CancellationToken cancellationToken)
    {
        Check(present.Length > 0, "something to read");
        long next = -1;
        long done = 0;
        long bytes = 0;
        var limit = (long)present.Length * 20;
        var clock = Stopwatch.StartNew();
        var tasks = new Task[readers];
        for (var r = 0; r < readers; r++)
        {
            tasks[r] = Task.Run(
                async () =>
                {
                    var buffer = new byte[ChunkBytes];
                    while (Interlocked.Read(ref next) < readers - 1 || clock.Elapsed < _case)
                    {
                        var i = Interlocked.Increment(ref next);
                        if (i >= limit)
                        {
                            break;
                        }

                        var n = await read(present.Span[(int)(i % present.Length)], buffer, cancellationToken).ConfigureAwait(false);
                        Interlocked.Add(ref bytes, n);
                        Interlocked.Increment(ref done);
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        return new Throughput(readers, done, bytes, clock.Elapsed.TotalSeconds);
    }

    private async Task<Throughput> RunBatchesAsync(BlobSet set, Digest[] digests, int perBatch, Func<BatchUpdateBlobsRequest, CancellationToken, Task> call, CancellationToken cancellationToken)
    {
        long blobs = 0;
        var buffer = set.NewBuffer();
        var clock = Stopwatch.StartNew();
        for (var start = 0; start < digests.Length && clock.Elapsed < _case; start += perBatch)
        {
            var request = new BatchUpdateBlobsRequest { InstanceName = Instance };
            for (var i = start; i < Math.Min(digests.Length, start + perBatch); i++)
            {
                set.Fill(buffer, i);
                request.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = digests[i], Data = ByteString.CopyFrom(buffer) });
            }

            await call(request, cancellationToken).ConfigureAwait(false);
            blobs += request.Requests.Count;
        }

        return new Throughput(1, blobs, blobs * set.SizeBytes, clock.Elapsed.TotalSeconds);
    }

    private async Task<Throughput> RunBatchReadsAsync(ReapiClients clients, Digest[] present, int perBatch, CancellationToken cancellationToken)
    {
        long blobs = 0;
        long bytes = 0;
        var clock = Stopwatch.StartNew();
        var start = 0;
        for (var calls = 0; calls < 100_000 && clock.Elapsed < _case; calls++)
        {
            var request = new BatchReadBlobsRequest { InstanceName = Instance };
            for (var i = 0; i < Math.Min(perBatch, present.Length); i++)
            {
                request.Digests.Add(present[(start + i) % present.Length]);
            }

            start = (start + perBatch) % present.Length;
            var response = await clients.Cas.BatchReadBlobsAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
            Check(response.Responses.All(r => r.Status.Code == 0), "BatchReadBlobs statuses");
            blobs += response.Responses.Count;
            bytes += response.Responses.Sum(r => (long)r.Data.Length);
        }

        return new Throughput(1, blobs, bytes, clock.Elapsed.TotalSeconds);
    }

    private void Report(string what, Throughput t) =>
        _progress.WriteLine(FormattableString.Invariant($"cas: {what,-28} {t.Workers,2} worker(s): {t.Operations,7} blobs in {t.Seconds,5:0.00}s = {t.MBps,8:0.0} MB/s, {t.OpsPerSecond,9:0} blobs/s"));
}
