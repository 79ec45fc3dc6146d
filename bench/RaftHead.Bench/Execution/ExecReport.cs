using System.Globalization;
using System.Runtime;
using System.Text;
using RaftHead.Bench.Storage;

namespace RaftHead.Bench.Execution;

/// <summary>The issue's goals against one <c>exec</c> run's figures, as markdown.</summary>
internal sealed class ExecReport
{
    public const double MaxOverheadMs = 2.0;
    public const double MinLinkSpeedup = 10.0;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private readonly ExecOptions _options;
    private readonly ExecResults _r;

    public ExecReport(ExecOptions options, ExecResults results)
    {
        _options = options;
        _r = results;
    }

    public string ToMarkdown(string commandLine, DateTimeOffset startedUtc, TimeSpan wall, string machineNote)
    {
        var md = new StringBuilder();
        md.AppendLine(Inv, $"Command: `{commandLine}`  ");
        md.AppendLine(Inv, $"Date: {startedUtc:yyyy-MM-dd HH:mm} UTC, {wall.TotalMinutes:0.0} min wall time  ");
        md.AppendLine(Inv, $"Machine: {machineNote}; .NET {Environment.Version}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC; client, head and runner in one process on 127.0.0.1 (h2c).  ");
        if (!_options.SkipExecute)
        {
            md.AppendLine(Inv, $"Head: `HeadNode` with execution and an in-process worker, **{_options.Slots} slot(s)** (= the machine's {Environment.ProcessorCount} logical cores unless `--slots` says otherwise), no logger; {_r.Isolation}.  ");
            md.AppendLine(Inv, $"Wrapper chain: `{_r.WrapperChain}`.  ");
        }

        md.AppendLine(Inv, $"Bounds: {_options.CaseSeconds:0.#} s or {_options.CaseCallsMax:N0} calls per case, {_options.Rounds} rounds with the cases alternating, every figure the median of its rounds; materialisation {_options.MaterializeRounds} rounds per method, order rotating; temp dirs under `{_options.TempRoot}`, deleted at the end.");
        md.AppendLine();
        Goals(md);
        if (!_options.SkipExecute)
        {
            Execute(md);
            Stages(md);
        }

        if (!_options.SkipMaterialize)
        {
            Materialize(md);
        }

        AllRounds(md);
        return md.ToString();
    }

    private static string F(double value, string format = "0") =>
        double.IsNaN(value) || double.IsInfinity(value) ? "—" : value.ToString(format, Inv);

    private static string Yes(bool? met) => met is null ? "—" : met.Value ? "**yes**" : "**no**";

    private (double P50Us, double P99Us, double PerSecond) Median(string kind, int clients)
    {
        var rounds = _r.Rounds.Where(r => r.Case == kind && r.Clients == clients).ToArray();
        return (Latencies.Median(rounds.Select(r => r.P50Us)), Latencies.Median(rounds.Select(r => r.P99Us)), Latencies.Median(rounds.Select(r => r.PerSecond)));
    }

    private double MaterializeMedian(string method) => Latencies.Median(_r.Materialize.Where(m => m.Method == method).Select(m => m.Seconds));

    private void Goals(StringBuilder md)
    {
        md.AppendLine("#### Goals");
        md.AppendLine();
        md.AppendLine("| Goal (issue) | Result in this run | Met |");
        md.AppendLine("|---|---|---|");
        if (!_options.SkipExecute)
        {
            var exec = Median(ExecutePhase.ExecuteCase, 1);
            var bare = Median(ProcessStarter.Bare, 1);
            var chain = Median(ProcessStarter.Chain, 1);
            var overhead = (exec.P50Us - bare.P50Us) / 1e3;
            var overChain = (exec.P50Us - chain.P50Us) / 1e3;
            md.AppendLine(Inv, $"| No-op Execute p50 (1 client) at most {MaxOverheadMs:0} ms beyond starting /bin/true directly | {F(exec.P50Us / 1e3, "0.00")} ms − {F(bare.P50Us / 1e3, "0.00")} ms = **{F(overhead, "0.00")} ms** | {Yes(double.IsNaN(overhead) ? null : overhead <= MaxOverheadMs)} |");
            md.AppendLine(Inv, $"| (same, against the wrapper chain started directly) | {F(exec.P50Us / 1e3, "0.00")} ms − {F(chain.P50Us / 1e3, "0.00")} ms = **{F(overChain, "0.00")} ms** | {Yes(double.IsNaN(overChain) ? null : overChain <= MaxOverheadMs)} |");
        }

        if (!_options.SkipMaterialize)
        {
            var links = MaterializeMedian(MaterializePhase.Links);
            var copies = MaterializeMedian(MaterializePhase.Copies);
            var ratio = copies / links;
            md.AppendLine(Inv, $"| Materialising {_options.Directories * _options.FilesPerDirectory:N0} files: hard links at least {MinLinkSpeedup:0}× faster than copying | {F(links * 1e3, "0")} ms vs {F(copies * 1e3, "0")} ms = **{F(ratio, "0.0")}×** | {Yes(double.IsNaN(ratio) ? null : ratio >= MinLinkSpeedup)} |");
        }

        md.AppendLine();
    }

    private void Execute(StringBuilder md)
    {
        md.AppendLine("#### No-op action: Execute against starting the process directly (medians of rounds)");
        md.AppendLine();
        md.AppendLine("| Case | Clients / starters | p50 ms | p99 ms | Per second | p50 − bare /bin/true (ms) | p50 − wrapper chain (ms) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        var bare = Median(ProcessStarter.Bare, 1).P50Us;
        var chain = Median(ProcessStarter.Chain, 1).P50Us;
        var cases = _r.DirectKinds.Select(k => (k, 1)).Append((ExecutePhase.ExecuteCase, 1)).Append((ProcessStarter.Chain, _options.Slots)).Append((ExecutePhase.ExecuteCase, _options.Clients));
        foreach (var (kind, clients) in cases)
        {
            var m = Median(kind, clients);
            md.AppendLine(Inv, $"| {kind} | {clients} | {F(m.P50Us / 1e3, "0.00")} | {F(m.P99Us / 1e3, "0.00")} | {F(m.PerSecond)} | {F((m.P50Us - bare) / 1e3, "0.00")} | {F((m.P50Us - chain) / 1e3, "0.00")} |");
        }

        md.AppendLine();
        md.AppendLine(Inv, $"Execute: one `ExecutionClient.Execute` server-streaming call per call (channel from `GrpcChannels.Create`), timed from the call's start to the done Operation (QUEUED and EXECUTING come first). Every call runs a fresh Action: {_r.ActionsUploaded:N0} Actions, identical but for `Action.salt` (8 bytes, the action's index), were uploaded with BatchUpdateBlobs before any timing ({F(_r.ActionUploadSeconds, "0.0")} s), along with the one Command (`/bin/true`, no outputs, no environment) and the empty input root; so concurrent calls are never merged into one operation, and `skip_cache_lookup` is set as well. The head stores each result in the action cache, as it would for Bazel. Direct starts: `{ProcessStarter.Bare}` is `Process.Start(\"/bin/true\")` + `WaitForExit()`; `{ProcessStarter.Redirected}` redirects stdin/stdout/stderr, closes stdin, pumps both outputs to `Stream.Null` and awaits `WaitForExitAsync`, as `ActionRunner.ExecuteAsync` does (less its two output files); the wrapper chain adds the runner's argument chain, and the \"part of the chain\" rows start only some of its links (each with the same redirections), so each link's cost is a difference of rows. The \"alternative\" row is the same isolation in one exec fewer (util-linux `unshare` switches user itself). With {_options.Clients} clients and {_options.Slots} slot(s) most of an Execute's latency is queueing; compare its throughput with the wrapper chain started by {_options.Slots} starters at once.");
        md.AppendLine();
    }

    private void Stages(StringBuilder md)
    {
        md.AppendLine("#### Where an Execute's time goes (ExecutedActionMetadata timestamps and the client's clock; every measured call)");
        md.AppendLine();
        md.AppendLine(Inv, $"| Stage | 1 client p50 µs | 1 client p99 µs | {_options.Clients} clients p50 µs | {_options.Clients} clients p99 µs |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        for (var s = 0; s < _r.StagesOneClient.Count; s++)
        {
            var one = _r.StagesOneClient[s];
            var many = s < _r.StagesManyClients.Count ? _r.StagesManyClients[s] : new StageSplit(one.Stage, double.NaN, double.NaN);
            md.AppendLine(Inv, $"| {one.Stage} | {F(one.P50Us)} | {F(one.P99Us)} | {F(many.P50Us)} | {F(many.P99Us)} |");
        }

        md.AppendLine();
        md.AppendLine("Each stage's median is taken on its own, so the medians need not add up to the whole call's. Client and head share one process and one clock (`DateTime.UtcNow`, 100 ns ticks).");
        md.AppendLine();
    }

    private void Materialize(StringBuilder md)
    {
        var files = _options.Directories * _options.FilesPerDirectory;
        md.AppendLine(Inv, $"#### Materialising {files:N0} files from a warm file cache ({_options.Directories} directories × {_options.FilesPerDirectory} files, {_r.TreeBytes / 1e6:0.0} MB, {_r.TreeExecutables:N0} executable)");
        md.AppendLine();
        md.AppendLine("| Method | Median ms | Min ms | Max ms | Files/s | ÷ hard links (InputMaterializer) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|");
        var links = MaterializeMedian(MaterializePhase.Links);
        foreach (var method in new[] { MaterializePhase.Links, MaterializePhase.Copies })
        {
            var rounds = _r.Materialize.Where(m => m.Method == method).Select(m => m.Seconds).ToArray();
            var median = Latencies.Median(rounds);
            md.AppendLine(Inv, $"| {method} | {F(median * 1e3, "0.0")} | {F(rounds.DefaultIfEmpty(double.NaN).Min() * 1e3, "0.0")} | {F(rounds.DefaultIfEmpty(double.NaN).Max() * 1e3, "0.0")} | {F(files / median)} | {F(median / links, "0.00")} |");
        }

        md.AppendLine();
        md.AppendLine(Inv, $"Blobs in a fresh `FasterBlobStore` (stored in {F(_r.TreeUploadSeconds, "0.0")} s); directories given to the run-as user as the runner does. Hard links: file cache and sandboxes on the same file system (`--temp`). Copies: the same `InputMaterializer` with its file cache under `--copy-cache` ({_options.CopyCacheRoot}), another file system, so every link() fails with EXDEV and the materializer copies (`File.Copy` + the cached file's mode), its own fallback; the sandboxes stay under `--temp`, so both methods create the same tree on the same file system. Before the rounds, one materialisation with a cold file cache (fetching every blob from the CAS into it) took {F(_r.ColdMaterializeSeconds * 1e3)} ms, then one copy round filled the other cache. Each round materialises into a fresh directory, deleted afterwards, then `sync` and a 0.5 s pause (none of it timed), so no round pays for the previous one's writeback or its deletion's journal commit (ext4 mounted `discard`, as `/` is on the machine measured, issues a deletion's trims at its journal commit).");
        md.AppendLine();
        if (_r.MaterializeSteps.Count > 0)
        {
            md.AppendLine("Each step alone, serially over the whole tree:");
            md.AppendLine();
            md.AppendLine("| Step | ms | µs per item |");
            md.AppendLine("|---|---:|---:|");
            foreach (var (step, seconds) in _r.MaterializeSteps)
            {
                var items = step.Contains("Directory messages", StringComparison.Ordinal) || step.Contains("directories", StringComparison.Ordinal) ? _options.Directories + 1 : files;
                md.AppendLine(Inv, $"| {step} | {F(seconds * 1e3, "0.0")} | {F(seconds * 1e6 / items, "0.0")} |");
            }

            md.AppendLine();
        }
    }

    private void AllRounds(StringBuilder md)
    {
        md.AppendLine("<details><summary>All rounds</summary>");
        md.AppendLine();
        if (_r.Rounds.Count > 0)
        {
            md.AppendLine("| Round | Case | Clients | Calls | Seconds | p50 ms | p99 ms | Per second |");
            md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|");
            foreach (var r in _r.Rounds)
            {
                md.AppendLine(Inv, $"| {r.Round} | {r.Case} | {r.Clients} | {r.Calls} | {r.Seconds:0.00} | {F(r.P50Us / 1e3, "0.00")} | {F(r.P99Us / 1e3, "0.00")} | {F(r.PerSecond)} |");
            }

            md.AppendLine();
        }

        if (_r.Materialize.Count > 0)
        {
            md.AppendLine("| Round | Method | Files | Linked | Copied | ms |");
            md.AppendLine("|---:|---|---:|---:|---:|---:|");
            foreach (var m in _r.Materialize)
            {
                md.AppendLine(Inv, $"| {m.Round} | {m.Method} | {m.Files} | {m.Linked} | {m.Copied} | {m.Seconds * 1e3:0.0} |");
            }

            md.AppendLine();
        }

        md.AppendLine("</details>");
    }
}
