using System.Globalization;
using System.Runtime;
using System.Text;
using RaftHead.Bench.Storage;

namespace RaftHead.Bench.Worker;

/// <summary>The worker-daemon issue's goals against one <c>worker</c> run's figures, as markdown.</summary>
internal static class WorkerReport
{
    public const double MaxNoOpOverheadMs = 1.0;
    public const double MaxExecuteMs = 3.0;
    public const double MinPeerShareOfRaw = 0.8;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string ToMarkdown(WorkerBenchOptions options, WorkerResults r, string commandLine, DateTimeOffset startedUtc, TimeSpan wall, string machineNote, string loadAtEnd)
    {
        var md = new StringBuilder();
        md.AppendLine(Inv, $"Command: `{commandLine}`  ");
        md.AppendLine(Inv, $"Date: {startedUtc:yyyy-MM-dd HH:mm} UTC, {wall.TotalMinutes:0.0} min wall time  ");
        md.AppendLine(Inv, $"Machine: {machineNote}; load average {loadAtEnd} at the end; .NET {Environment.Version}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC.  ");
        md.AppendLine(Inv, $"Setup: one `HeadNode` with execution and a worker composed as `rh worker` composes it (`RemoteBlobStore` to the head behind `PeerFetchingBlobStore` and its `FileCache`, `ActionRunner`, `PeerBlobServer`, `WorkerAgent` with blob reports), 1 slot, all in one process on 127.0.0.1 (h2c); {r.Isolation}.  ");
        md.AppendLine(Inv, $"Bounds: no-op cases {options.CaseSeconds:0.#} s or {options.CaseCallsMax:N0} calls, one client; {options.Rounds} rounds, the sides alternating and their order turning each round; every figure the median of its rounds, a difference or ratio taken within each round first.");
        md.AppendLine();
        var noOp = Medians(r.NoOpRounds);
        Goals(md, r, noOp);
        if (r.NoOpRounds.Count > 0)
        {
            NoOp(md, r, noOp);
        }

        if (r.FetchRounds.Count > 0)
        {
            Fetch(md, options, r);
        }

        return md.ToString();
    }

    private static string F(double value, string format = "0") =>
        double.IsNaN(value) || double.IsInfinity(value) ? "—" : value.ToString(format, Inv);

    private static string Yes(bool? met) => met is null ? "—" : met.Value ? "**yes**" : "**no**";

    private static (double P50Us, double P99Us)[] Medians(List<(double P50Us, double P99Us)[]> rounds) =>
        Enumerable.Range(0, NoOpPhase.Metrics.Length)
            .Select(m => (Latencies.Median(rounds.Select(x => x[m].P50Us)), Latencies.Median(rounds.Select(x => x[m].P99Us))))
            .ToArray();

    /// <summary>Median over rounds of a p50 difference taken within each round.</summary>
    private static double OverheadUs(WorkerResults r, int metric) =>
        Latencies.Median(r.NoOpRounds.Select(x => x[metric].P50Us - x[NoOpPhase.Bare].P50Us));

    private static double PeerShare(WorkerResults r, int size, int concurrency, string side) =>
        Latencies.Median(r.FetchRounds
            .Where(x => x.BlobBytes == size && x.Concurrency == concurrency && x.Side == side)
            .Select(x => x.MegabytesPerSecond / r.FetchRounds.Single(y => y.Round == x.Round && y.BlobBytes == size && y.Concurrency == concurrency && y.Side == FetchPhase.Raw).MegabytesPerSecond));

    private static void Goals(StringBuilder md, WorkerResults r, (double P50Us, double P99Us)[] noOp)
    {
        md.AppendLine("| Goal | Measured | Met |");
        md.AppendLine("|---|---|---|");
        if (r.NoOpRounds.Count > 0)
        {
            var overhead = OverheadUs(r, NoOpPhase.WorkerSpan) / 1000;
            md.AppendLine(Inv, $"| Worker no-op overhead p50 ≤ {MaxNoOpOverheadMs:0.#} ms beyond `/bin/true` (worker_start → worker_completed − bare start) | {F(overhead, "0.00")} ms | {Yes(overhead <= MaxNoOpOverheadMs)} |");
            var execute = noOp[NoOpPhase.Whole].P50Us / 1000;
            md.AppendLine(Inv, $"| Execute → result p50 ≤ {MaxExecuteMs:0.#} ms (here one head in process; through 3 heads see the `cluster` scenario) | {F(execute, "0.00")} ms | {Yes(execute <= MaxExecuteMs)} |");
        }

        foreach (var (size, concurrency) in Cases(r))
        {
            var share = PeerShare(r, size, concurrency, FetchPhase.Peer);
            md.AppendLine(Inv, $"| Peer fetch ≥ {MinPeerShareOfRaw:P0} of the loopback gRPC streaming rate, {Size(size)} blobs, {concurrency} at once | {F(share * 100)} % | {Yes(share >= MinPeerShareOfRaw)} |");
        }

        md.AppendLine();
    }

    private static IEnumerable<(int Size, int Concurrency)> Cases(WorkerResults r) =>
        r.FetchRounds.Select(x => (x.BlobBytes, x.Concurrency)).Distinct().OrderBy(c => c.BlobBytes).ThenBy(c => c.Concurrency);

    private static string Size(int bytes) => bytes >= 1 << 20 ? $"{bytes >> 20} MiB" : $"{bytes >> 10} KiB";

    private static void NoOp(StringBuilder md, WorkerResults r, (double P50Us, double P99Us)[] noOp)
    {
        md.AppendLine("No-op action (`/bin/true`, empty input root, no outputs), one client, Execute with skip_cache_lookup, a fresh action each call:");
        md.AppendLine();
        md.AppendLine("| Measure | p50 µs | p99 µs |");
        md.AppendLine("|---|---:|---:|");
        for (var m = 0; m < NoOpPhase.Metrics.Length; m++)
        {
            md.AppendLine(Inv, $"| {NoOpPhase.Metrics[m]} | {F(noOp[m].P50Us)} | {F(noOp[m].P99Us)} |");
        }

        md.AppendLine(Inv, $"| **overhead: worker span − bare `/bin/true`** | **{F(OverheadUs(r, NoOpPhase.WorkerSpan))}** | |");
        md.AppendLine(Inv, $"| overhead: execution stage − bare `/bin/true` | {F(OverheadUs(r, NoOpPhase.Execution))} | |");
        md.AppendLine(Inv, $"| **overhead: Execute → result − bare `/bin/true`** | **{F(OverheadUs(r, NoOpPhase.Whole))}** | |");
        md.AppendLine();
        md.AppendLine("Per round, p50 µs (bare / worker span / Execute): " + string.Join("; ", r.NoOpRounds.Select((x, i) => string.Create(Inv, $"round {i + 1}: {F(x[NoOpPhase.Bare].P50Us)} / {F(x[NoOpPhase.WorkerSpan].P50Us)} / {F(x[NoOpPhase.Whole].P50Us)}"))) + ".");
        md.AppendLine();
    }

    private static void Fetch(StringBuilder md, WorkerBenchOptions options, WorkerResults r)
    {
        md.AppendLine(Inv, $"Whole-blob fetches into a fresh reader's `FileCache` (`FileCache.GetAsync`, as an input is materialised), each blob of a set once per case; sets of distinct random blobs (≥ {options.BlobsMin}, ≤ {options.BlobsMax}, about {options.BytesPerSize >> 20} MiB per size). Peer: where-is on the head, ByteStream Read from the holder's `PeerBlobServer`, SHA-256 verified, kept. Head: `RemoteBlobStore` (BatchReadBlobs up to its batch limit, else ByteStream Read), verified. Raw: the rpc scenario's `Download` (pooled buffer + UnsafeWrap) of the same byte count, nothing written or hashed. MB/s = bytes of the set / wall time of the case.");
        md.AppendLine();
        md.AppendLine("| Blob | At once | Raw gRPC MB/s | Peer MB/s | Head MB/s | Peer / raw | Head / raw | Peer p50 / p99 ms per blob | Head p50 / p99 ms per blob | Peer, file spool MB/s | Peer, no read-ahead MB/s |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (size, concurrency) in Cases(r))
        {
            var rows = r.FetchRounds.Where(x => x.BlobBytes == size && x.Concurrency == concurrency).ToList();
            double Rate(string side) => Latencies.Median(rows.Where(x => x.Side == side).Select(x => x.MegabytesPerSecond));
            double Ms(string side, bool p99) => Latencies.Median(rows.Where(x => x.Side == side).Select(x => p99 ? x.P99Ms : x.P50Ms));
            md.AppendLine(Inv, $"| {Size(size)} × {rows[0].Blobs} | {concurrency} | {F(Rate(FetchPhase.Raw))} | {F(Rate(FetchPhase.Peer))} | {F(Rate(FetchPhase.Head))} | {F(PeerShare(r, size, concurrency, FetchPhase.Peer) * 100)} % | {F(PeerShare(r, size, concurrency, FetchPhase.Head) * 100)} % | {F(Ms(FetchPhase.Peer, false), "0.00")} / {F(Ms(FetchPhase.Peer, true), "0.00")} | {F(Ms(FetchPhase.Head, false), "0.00")} / {F(Ms(FetchPhase.Head, true), "0.00")} | {F(Rate(FetchPhase.PeerFileSpool))} | {F(Rate(FetchPhase.PeerNoReadAhead))} |");
        }

        if (options.SkipParts)
        {
            return;
        }

        md.AppendLine();
        md.AppendLine("Where a peer fetch's time goes: per blob, p50 ms of the whole fetch and of its parts measured alone in the same rounds (where-is on the head; the holder's ByteStream Read drained, neither verified nor kept; SHA-256 over the holder's file; `FileCache.GetAsync` copying the holder's file into a fresh cache: temp file, write, mode, rename). The rest is what the parts leave out: the in-memory spool's copy, hand-offs between them. Peer Read MB/s next to the raw stream's says whether the transport is the limit.");
        md.AppendLine();
        md.AppendLine("| Blob | At once | Peer fetch ms | Where-is ms | Peer Read alone ms | SHA-256 ms | Cache write ms | Rest ms | Peer Read alone MB/s | Raw gRPC MB/s |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (size, concurrency) in Cases(r))
        {
            var rows = r.FetchRounds.Where(x => x.BlobBytes == size && x.Concurrency == concurrency).ToList();
            double Ms(string side) => Latencies.Median(rows.Where(x => x.Side == side).Select(x => x.P50Ms));
            double Rate(string side) => Latencies.Median(rows.Where(x => x.Side == side).Select(x => x.MegabytesPerSecond));
            var rest = Ms(FetchPhase.Peer) - Ms(FetchPhase.WhereIs) - Ms(FetchPhase.PeerRead) - Ms(FetchPhase.Hash) - Ms(FetchPhase.Keep);
            md.AppendLine(Inv, $"| {Size(size)} | {concurrency} | {F(Ms(FetchPhase.Peer), "0.00")} | {F(Ms(FetchPhase.WhereIs), "0.00")} | {F(Ms(FetchPhase.PeerRead), "0.00")} | {F(Ms(FetchPhase.Hash), "0.00")} | {F(Ms(FetchPhase.Keep), "0.00")} | {F(rest, "0.00")} | {F(Rate(FetchPhase.PeerRead))} | {F(Rate(FetchPhase.Raw))} |");
        }

        md.AppendLine();
    }
}
