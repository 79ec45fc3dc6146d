using System.Globalization;
using System.Runtime;
using System.Text;

namespace RaftHead.Bench.Storage;

/// <summary>The issue's goals against one run's figures, as markdown.</summary>
internal sealed class StorageReport
{
    public const double MinIngestShareOfSha = 0.80;
    public const double MinReadMBps = 1_000;
    public const double MinFindMissingInProcess = 1_000_000;
    public const double MinFindMissingGrpc = 200_000;
    public const double MaxP50RatioToRedis = 3.0;
    public const double MaxIndexBytesPerBlob = 128;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private readonly StorageOptions _options;
    private readonly StorageResults _r;

    public StorageReport(StorageOptions options, StorageResults results)
    {
        _options = options;
        _r = results;
    }

    public string ToMarkdown(string commandLine, DateTimeOffset startedUtc, TimeSpan wall, string machineNote)
    {
        var md = new StringBuilder();
        md.AppendLine(Inv, $"Command: `{commandLine}`  ");
        md.AppendLine(Inv, $"Date: {startedUtc:yyyy-MM-dd HH:mm} UTC, {wall.TotalMinutes:0.0} min wall time  ");
        md.AppendLine(Inv, $"Machine: {machineNote}; .NET {Environment.Version}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC; everything in one process on 127.0.0.1 (h2c) except redis-server and redis-benchmark.  ");
        md.AppendLine(Inv, $"Bounds: {_options.CaseSeconds:0.#} s per case; latency {_options.Rounds} rounds per side, sides alternating, medians of rounds; temp dirs under `{_options.TempRoot}`, deleted after each phase.");
        md.AppendLine();
        Goals(md);
        Cas(md);
        Profiles(md);
        FindMissing(md);
        Latency(md);
        IndexMemory(md);
        return md.ToString();
    }

    private static string F(double value, string format = "0") =>
        double.IsNaN(value) || double.IsInfinity(value) ? "—" : value.ToString(format, Inv);

    private static string Yes(bool? met) => met is null ? "—" : met.Value ? "**yes**" : "**no**";

    private static string Size(int bytes) => CasPhase.Size(bytes);

    private void Goals(StringBuilder md)
    {
        md.AppendLine("#### Goals");
        md.AppendLine();
        md.AppendLine("| Goal (issue) | Result in this run | Met |");
        md.AppendLine("|---|---|---|");
        foreach (var row in _r.Cas.Where(c => c.SizeBytes >= 4 << 20))
        {
            var share = row.Ingest1.MBps / row.Sha256MBps;
            md.AppendLine(Inv, $"| Ingest of {Size(row.SizeBytes)} blobs ≥ {MinIngestShareOfSha:P0} of raw SHA-256 (in process, 1 writer) | {F(row.Ingest1.MBps)} MB/s vs SHA-256 {F(row.Sha256MBps)} MB/s = {F(100 * share)} % | {Yes(share >= MinIngestShareOfSha)} |");
        }

        foreach (var row in _r.Cas)
        {
            md.AppendLine(Inv, $"| Reads of {Size(row.SizeBytes)} blobs ≥ 1 GB/s (in process, 1 reader; {row.ReadN.Workers} readers; gRPC) | {F(row.Read1.MBps)} MB/s; {F(row.ReadN.MBps)} MB/s; {F(row.GrpcRead.MBps)} MB/s | {Yes(row.Read1.MBps >= MinReadMBps)} in process, {Yes(row.GrpcRead.MBps >= MinReadMBps)} over gRPC |");
        }

        var fmIn = FindMissingMedian(r => r.Where.StartsWith("in process", StringComparison.Ordinal));
        var fmBest = fmIn.MaxBy(p => p.Value);
        md.AppendLine(Inv, $"| FindMissing in process ≥ 1 M digests/s | {string.Join("; ", fmIn.Select(p => $"{F(p.Value / 1e6, "0.00")} M/s with {p.Key} thread(s)"))} | {Yes(fmIn.Count == 0 ? null : fmBest.Value >= MinFindMissingInProcess)} |");
        var fmGrpc = FindMissingMedian(r => r.Where.StartsWith("gRPC", StringComparison.Ordinal));
        var fmGrpcBest = fmGrpc.MaxBy(p => p.Value);
        md.AppendLine(Inv, $"| FindMissingBlobs over gRPC, batches of {_options.FindMissingBatch:N0}, ≥ 200 k digests/s | {string.Join("; ", fmGrpc.Select(p => $"{F(p.Value / 1e3)} k/s with {p.Key} caller(s)"))} | {Yes(fmGrpc.Count == 0 ? null : fmGrpcBest.Value >= MinFindMissingGrpc)} |");
        foreach (var callers in new[] { 1, _options.LatencyCallers })
        {
            var ours = LatencyMedian(LookupPhase.Ours, callers);
            var redis = LatencyMedian(LookupPhase.Redis, callers);
            var ratio = ours.P50 / redis.P50;
            md.AppendLine(Inv, $"| GetActionResult hit p50 ≤ 3× Redis GET p50, {callers} caller(s) | {F(ours.P50, "0.0")} µs vs {F(redis.P50, "0.0")} µs = {F(ratio, "0.00")}× | {Yes(double.IsNaN(ratio) ? null : ratio <= MaxP50RatioToRedis)} |");
        }

        foreach (var row in _r.IndexMemory)
        {
            var reached = row.Stored == row.Target ? $"{row.Stored:N0}" : $"{row.Stored:N0} (of {row.Target:N0}: stopped at the {_options.IndexSecondsMax:0} s bound)";
            md.AppendLine(Inv, $"| Index memory ≤ 128 B per blob at {reached} blobs | {F(row.ManagedBytesPerBlob, "0.0")} B/blob managed heap growth, {F(row.RssBytesPerBlob, "0.0")} B/blob RSS growth | {Yes(row.ManagedBytesPerBlob <= MaxIndexBytesPerBlob)} (live heap){(row.RssBytesPerBlob > MaxIndexBytesPerBlob ? "; RSS over" : "")} |");
        }

        md.AppendLine();
    }

    private void Cas(StringBuilder md)
    {
        md.AppendLine("#### CAS throughput (MB = 10^6 bytes per second of blob data)");
        md.AppendLine();
        md.AppendLine("| Blob size | Raw SHA-256, 1 core | Raw pwrite + fsync | Ingest, 1 writer | Ingest ÷ SHA-256 | Ingest, N writers | Read, 1 reader | Read, N readers | gRPC write, 1 caller | gRPC read, 1 caller | Blobs ingested (1 writer) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var c in _r.Cas)
        {
            md.AppendLine(Inv, $"| {Size(c.SizeBytes)} | {F(c.Sha256MBps)} | {F(c.RawWriteMBps)} | {F(c.Ingest1.MBps)} ({F(c.Ingest1.OpsPerSecond)}/s) | {F(100 * c.Ingest1.MBps / c.Sha256MBps)} % | {F(c.IngestN.MBps)} (N = {c.IngestN.Workers}) | {F(c.Read1.MBps)} ({F(c.Read1.OpsPerSecond)}/s) | {F(c.ReadN.MBps)} (N = {c.ReadN.Workers}) | {F(c.GrpcWrite.MBps)} | {F(c.GrpcRead.MBps)} | {c.Ingest1.Operations:N0} in {F(c.Ingest1.Seconds, "0.0")} s |");
        }

        md.AppendLine();
        md.AppendLine("In process: `FasterBlobStore.PutAsync` for blobs ≤ 1 MiB (`BufferedBlobMaxBytes`, the BatchUpdateBlobs path), `BeginWrite` + `WriteAsync` in 1 MiB chunks + `CommitAsync` above (the ByteStream Write path); whole-blob `OpenReadAsync` drained with 1 MiB reads. Every blob is distinct and its digest is computed before the timed loop. Reads are of blobs just written, so they come from the page cache. \"Raw pwrite + fsync\" is a new file of max(size, 64 MiB) written in 1 MiB pwrites and fsynced, measured just before that size's ingest. gRPC: " + string.Join("; ", _r.Cas.Select(c => c.GrpcPath).Distinct()) + $". A 4 KiB append + fsync on this disk takes {F(_r.FsyncOf4KiBAppendUs)} µs (median of 200).");
        md.AppendLine();
    }

    private void Profiles(StringBuilder md)
    {
        md.AppendLine("#### Where the time goes (large blobs)");
        md.AppendLine();
        md.AppendLine("Instrumented store calls (wall time summed over the 1-writer / 1-reader case):");
        md.AppendLine();
        md.AppendLine("| Measured | Step | Seconds | Share | Rate of the step alone (MB/s) |");
        md.AppendLine("|---|---|---:|---:|---:|");
        var splits = _r.Cas.Where(c => c.SizeBytes >= 4 << 20).SelectMany(c => new[] { c.IngestSplit, c.ReadSplit }).OfType<StepTimes>();
        foreach (var split in splits)
        {
            var what = split.What;
            foreach (var (step, seconds) in split.Steps)
            {
                md.AppendLine(Inv, $"| {what} | {step} | {F(seconds, "0.000")} | {F(100 * seconds / split.TotalSeconds)} % | {F(split.Bytes / seconds / 1e6)} |");
                what = "";
            }
        }

        md.AppendLine();
    }

    private void FindMissing(StringBuilder md)
    {
        md.AppendLine(Inv, $"#### FindMissing ({_r.Lookups.Population:N0} stored 16-byte blobs; every digest asked for is present; medians of 3 rounds)");
        md.AppendLine();
        md.AppendLine("| Where | Callers | Digests/s | Goal | Met |");
        md.AppendLine("|---|---:|---:|---|---|");
        foreach (var group in _r.Lookups.FindMissing.GroupBy(r => (r.Where, r.Callers)))
        {
            var median = Latencies.Median(group.Select(r => r.DigestsPerSecond));
            var inProcess = group.Key.Where.StartsWith("in process", StringComparison.Ordinal);
            var goal = inProcess ? MinFindMissingInProcess : MinFindMissingGrpc;
            md.AppendLine(Inv, $"| {group.Key.Where} | {group.Key.Callers} | {F(median)} | ≥ {F(goal)} | {Yes(median >= goal)} |");
        }

        md.AppendLine();
    }

    private void Latency(StringBuilder md)
    {
        md.AppendLine(Inv, $"#### GetActionResult hit latency vs Redis GET (ActionResult {_r.Lookups.ActionResultBytes} B serialized: 3 output files, stdout/stderr digests, execution metadata; Redis value the same size, {RedisBench.Keys} keys)");
        md.AppendLine();
        if (_r.Lookups.RedisError is { } error)
        {
            md.AppendLine(Inv, $"Redis could not be run: {error}");
            md.AppendLine();
        }

        md.AppendLine("| Callers | Ours p50 µs | Ours p99 µs | Ours calls/s | Redis p50 µs | Redis p99 µs | Redis GET/s | p50 ours ÷ Redis | Goal | Met |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (var callers in new[] { 1, _options.LatencyCallers })
        {
            var ours = LatencyMedian(LookupPhase.Ours, callers);
            var redis = LatencyMedian(LookupPhase.Redis, callers);
            var ratio = ours.P50 / redis.P50;
            md.AppendLine(Inv, $"| {callers} | {F(ours.P50, "0.0")} | {F(ours.P99, "0.0")} | {F(ours.Ops)} | {F(redis.P50, "0.0")} | {F(redis.P99, "0.0")} | {F(redis.Ops)} | {F(ratio, "0.00")} | ≤ 3.00 | {Yes(double.IsNaN(ratio) ? null : ratio <= MaxP50RatioToRedis)} |");
        }

        md.AppendLine();
        md.AppendLine(Inv, $"Ours: `ActionCacheClient.GetActionResultAsync` on a channel from `GrpcChannels.Create` (GetActionResult is on its retry list, so the call runs under the retry policy) against `HeadNode` (`CompletenessCheckingActionCache` over the replicated action cache: a lookup in the applied state, FindMissing of the 5 blobs it names), client and server in one process. Redis: `redis-benchmark -t get -c N -n M -d {_r.Lookups.ActionResultBytes} -r {RedisBench.Keys} --csv` against `redis-server --save \"\" --appendonly no` ({_r.Lookups.RedisVersion ?? "not run"}); redis-benchmark reports latency in steps of 1 µs at best (its histogram's precision), and both sides share the same 2 cores.");
        md.AppendLine();
        md.AppendLine("<details><summary>All latency rounds</summary>");
        md.AppendLine();
        md.AppendLine("| System | Callers | p50 µs | p99 µs | ops/s |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var round in _r.Lookups.Latency)
        {
            md.AppendLine(Inv, $"| {round.System} | {round.Callers} | {F(round.P50Us, "0.0")} | {F(round.P99Us, "0.0")} | {F(round.OpsPerSecond)} |");
        }

        md.AppendLine();
        md.AppendLine("</details>");
        md.AppendLine();
    }

    private void IndexMemory(StringBuilder md)
    {
        if (_r.IndexMemory.Count == 0)
        {
            return;
        }

        md.AppendLine("#### Index memory per stored blob");
        md.AppendLine();
        md.AppendLine("| Blobs stored | Insert time | Inserts/s | IndexBucketCount (× 64 B) | IndexMemorySizeBits | Managed heap growth | per blob | RSS growth | per blob | FASTER log on disk per blob | Lookups after | Goal ≤ 128 B | Met |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|");
        foreach (var row in _r.IndexMemory)
        {
            md.AppendLine(Inv, $"| {row.Stored:N0}{(row.Stored == row.Target ? "" : $" of {row.Target:N0}")} | {F(row.InsertSeconds, "0")} s | {F(row.InsertsPerSecond)} | {row.IndexBucketCount:N0} | {row.IndexMemorySizeBits} | {F(row.ManagedBytesDelta / 1e6, "0.0")} MB | {F(row.ManagedBytesPerBlob, "0.0")} B | {F(row.RssBytesDelta / 1e6, "0.0")} MB | {F(row.RssBytesPerBlob, "0.0")} B | {F(row.IndexLogBytesPerBlob, "0.0")} B | {(row.LookupsOk ? "ok" : "**failed**")} | ≤ 128 | {Yes(row.ManagedBytesPerBlob <= MaxIndexBytesPerBlob)} (live heap) |");
        }

        md.AppendLine();
        md.AppendLine("FASTER's own structures at the end of the inserts (read by reflection from the store's `IndexStore`):");
        md.AppendLine();
        md.AppendLine("| Blobs stored | Hash buckets | Overflow buckets | Log pages allocated | Log in memory (tail − head) | Whole log (tail − begin) | Record size | Structures ÷ blobs |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in _r.IndexMemory.Where(r => r.Faster is not null))
        {
            var p = row.Faster!;
            md.AppendLine(Inv, $"| {row.Stored:N0} | {p.IndexBuckets:N0} ({F(p.IndexBuckets * 64 / 1e6, "0.0")} MB) | {p.OverflowBuckets:N0} ({F(p.OverflowBuckets * 64 / 1e6, "0.0")} MB) | {F(p.LogMemoryBytes / 1e6, "0.0")} MB | {F(p.LogInMemoryBytes / 1e6, "0.0")} MB | {F(p.LogBytes / 1e6, "0.0")} MB | {p.RecordBytes} B | {F((double)p.StructureBytes / row.Stored, "0.0")} B |");
        }

        md.AppendLine();
        md.AppendLine(Inv, $"Each count runs in a fresh store filled through `PutAsync` with 16-byte distinct blobs ({_options.IndexWriters} in flight so group commit shares the fsyncs). Growth is measured from before `OpenAsync` to after the inserts, both after a full compacting GC: managed = `GC.GetTotalMemory` (FASTER 2.x keeps its hash table and log pages in pinned managed arrays), RSS = `Process.WorkingSet64`. Settings: buckets = N/8 rounded up to a power of two, log memory = N × {IndexMemoryPhase.RecordBytes} B × 1.1 rounded up to a power of two (the whole index in memory, as the option's doc asks). A FASTER record is {IndexMemoryPhase.RecordBytes} B (8 B header + 48 B key + 40 B value). The on-disk column is the FASTER log file after the closing checkpoint ÷ blobs.");
        md.AppendLine();
    }

    private Dictionary<int, double> FindMissingMedian(Func<FindMissingRound, bool> filter) =>
        _r.Lookups.FindMissing.Where(filter).GroupBy(r => r.Callers).ToDictionary(g => g.Key, g => Latencies.Median(g.Select(r => r.DigestsPerSecond)));

    private (double P50, double P99, double Ops) LatencyMedian(string system, int callers)
    {
        var rounds = _r.Lookups.Latency.Where(r => r.System == system && r.Callers == callers).ToArray();
        return (Latencies.Median(rounds.Select(r => r.P50Us)), Latencies.Median(rounds.Select(r => r.P99Us)), Latencies.Median(rounds.Select(r => r.OpsPerSecond)));
    }
}
