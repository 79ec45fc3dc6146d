using System.Globalization;
using System.Text;

namespace RaftHead.Compare;

/// <summary>The markdown the runner prints (and writes with --out).</summary>
internal static class Report
{
    private const double FailoverMedianGoalMs = 500;
    private const double FailoverMaxGoalMs = 1000;

    public static string Render(RunInfo run, CompareOptions options, IReadOnlyList<LoadResult> load, IReadOnlyList<FailoverResult> failover, string oursSettings, string etcdSettings, string? dotNextSettings)
    {
        var md = new StringBuilder();
        md.AppendLine(Inv($"Command: `{run.Command}`  "));
        md.AppendLine(Inv($"Date: {run.StartedUtc:yyyy-MM-dd HH:mm} UTC, {run.Duration.TotalMinutes:0.0} min wall time  "));
        md.AppendLine(Inv($"Machine: {run.Machine}; load average (1/5/15 min) {run.LoadAverageAtStart} at start, {run.LoadAverageAtEnd} at end  "));
        md.AppendLine(Inv($"etcd: {run.EtcdVersion}, three members on 127.0.0.1, data under {run.TempRoot}  "));
        md.AppendLine(Inv($"Disk (same file system): append 1 KiB + fsync p50 {run.FsyncP50Ms:0.00} ms, p99 {run.FsyncP99Ms:0.00} ms  "));
        md.AppendLine(Inv($"Ours (load): {oursSettings}  "));
        md.AppendLine(Inv($"etcd (load): {etcdSettings}  "));
        if (dotNextSettings is not null) md.AppendLine(Inv($"DotNext (load): {dotNextSettings}  "));
        md.AppendLine("Client: one process, Grpc.Net.Client (gRPC over h2c, channels from RaftHead.Protocol's GrpcChannels) for both systems: ours `rafthead.test.v1.Control/Put` (the node host's KV put), etcd `etcdserverpb.KV/Put`; puts go to the leader; a put returns once committed and applied on the leader. Keys `wNNN-kNN` (64 per writer), values of the stated size.");
        md.AppendLine();

        if (load.Count > 0)
        {
            md.AppendLine(Inv($"### Committed writes (closed loop, {options.WarmupSeconds:0.#} s warm-up + {options.Seconds:0.#} s measured per cell; the systems take turns going first)"));
            md.AppendLine();
            md.AppendLine("| Value | Writers | ours writes/s | etcd writes/s | ours / etcd | ours p50 ms | etcd p50 ms | ours p99 ms | etcd p99 ms | ours max ms | etcd max ms | failed ours / etcd | rejected ours / etcd | server CPU ms per write ours / etcd | writes/s ≥ etcd | p99 ≤ etcd |");
            md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
            var throughputMet = 0;
            var p99Met = 0;
            var cells = 0;
            foreach (var group in load.GroupBy(r => (r.ValueBytes, r.Writers)).OrderBy(g => g.Key.ValueBytes).ThenBy(g => g.Key.Writers))
            {
                var ours = group.FirstOrDefault(r => r.System == "ours");
                var etcd = group.FirstOrDefault(r => r.System == "etcd");
                if (ours is null || etcd is null) continue;
                cells++;
                var tMet = ours.WritesPerSecond >= etcd.WritesPerSecond;
                var pMet = ours.P99Ms <= etcd.P99Ms;
                if (tMet) throughputMet++;
                if (pMet) p99Met++;
                md.AppendLine(
                    Inv($"| {Size(group.Key.ValueBytes)} | {group.Key.Writers} | {ours.WritesPerSecond:0} | {etcd.WritesPerSecond:0} | {ours.WritesPerSecond / etcd.WritesPerSecond:0.00} | ") +
                    Inv($"{ours.P50Ms:0.00} | {etcd.P50Ms:0.00} | {ours.P99Ms:0.00} | {etcd.P99Ms:0.00} | {ours.MaxMs:0.0} | {etcd.MaxMs:0.0} | {ours.Errors} / {etcd.Errors} | {ours.Rejected} / {etcd.Rejected} | ") +
                    Inv($"{ours.ServerCpuMsPerWrite:0.000} / {etcd.ServerCpuMsPerWrite:0.000} | {Yes(tMet)} | {Yes(pMet)} |"));
            }
            md.AppendLine();
            md.AppendLine(Inv($"Throughput goal (ours ≥ etcd) met in {throughputMet} of {cells} cells; p99 goal (ours ≤ etcd) met in {p99Met} of {cells}. ") +
                              "Server CPU is user + system time of the three member processes during the measured window, per committed write (from /proc/PID/stat, 10 ms ticks). " +
                              "Rejected: puts refused with RESOURCE_EXHAUSTED (back-pressure, nothing proposed); failed: every other error (status and message below).");
            md.AppendLine();
        }

        if (load.Any(r => r.System == "dotnext"))
        {
            md.AppendLine("### DotNext side by side (same cells, same client, same window)");
            md.AppendLine();
            md.AppendLine("| Value | Writers | dotnext writes/s | ours / dotnext | etcd / dotnext | dotnext p50 ms | dotnext p99 ms | dotnext max ms | dotnext failed / rejected | server CPU ms per write ours / etcd / dotnext | ours CPU ≤ dotnext |");
            md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (var group in load.GroupBy(r => (r.ValueBytes, r.Writers)).OrderBy(g => g.Key.ValueBytes).ThenBy(g => g.Key.Writers))
            {
                var ours = group.FirstOrDefault(r => r.System == "ours");
                var etcd = group.FirstOrDefault(r => r.System == "etcd");
                var dn = group.FirstOrDefault(r => r.System == "dotnext");
                if (ours is null || etcd is null || dn is null) continue;
                md.AppendLine(
                    Inv($"| {Size(group.Key.ValueBytes)} | {group.Key.Writers} | {dn.WritesPerSecond:0} | {ours.WritesPerSecond / dn.WritesPerSecond:0.00} | {etcd.WritesPerSecond / dn.WritesPerSecond:0.00} | ") +
                    Inv($"{dn.P50Ms:0.00} | {dn.P99Ms:0.00} | {dn.MaxMs:0.0} | {dn.Errors} / {dn.Rejected} | {ours.ServerCpuMsPerWrite:0.000} / {etcd.ServerCpuMsPerWrite:0.000} / {dn.ServerCpuMsPerWrite:0.000} | {Yes(ours.ServerCpuMsPerWrite <= dn.ServerCpuMsPerWrite)} |"));
            }
            md.AppendLine();
            md.AppendLine("DotNext's only configuration is its default: its log is flushed when entries commit, so a follower acknowledges an entry before it is on disk (a majority's acknowledgements do not make a write durable on a majority). Ours and etcd fsync on every member before acknowledging.");
            md.AppendLine();
        }

        if (failover.Count > 0)
        {
            md.AppendLine("### Failover: `kill -9` of the leader to the first write acknowledged by the new leader");
            md.AppendLine();
            md.AppendLine("Each round: find the leader, write through it, wait a random 0–200 ms, SIGKILL it; from then on a put goes to each surviving member every 10 ms (not waiting for earlier ones; 1 s deadline each) until one is acknowledged. Then the killed member restarts on its data directory and the next round waits until it has caught up.");
            md.AppendLine();
            md.AppendLine("| System | Timing settings | Rounds | min ms | median ms | p90 ms | max ms | no write within 15 s | median ≤ 500 ms | max ≤ 1 s |");
            md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|---|");
            foreach (var f in failover)
            {
                md.AppendLine(Inv(
                    $"| {f.System} | {f.Settings} | {f.Rounds.Count} | {f.MinMs:0} | {f.MedianMs:0} | {f.P90Ms:0} | {Ms(f.MaxMs)} | {f.Failed} | {Yes(f.MedianMs <= FailoverMedianGoalMs)} | {Yes(f.MaxMs <= FailoverMaxGoalMs)} |"));
            }
            md.AppendLine();
            md.AppendLine("<details><summary>Every failover round</summary>");
            md.AppendLine();
            md.AppendLine("| System | Round | Killed | Acked by | Failover ms | Puts tried | Restart + catch-up ms |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
            foreach (var f in failover)
            {
                foreach (var r in f.Rounds)
                {
                    md.AppendLine(Inv($"| {f.System} | {r.Round} | {r.Killed} | {r.AckedBy?.ToString(CultureInfo.InvariantCulture) ?? "—"} | {(r.FailoverMs is { } ms ? ms.ToString("0", CultureInfo.InvariantCulture) : "—")} | {r.Attempts} | {r.RestartMs:0} |"));
                }
            }
            md.AppendLine();
            md.AppendLine("</details>");
            md.AppendLine();
        }

        if (load.Count > 0)
        {
            md.AppendLine("<details><summary>Every load cell</summary>");
            md.AppendLine();
            md.AppendLine("| System | Value | Writers | Writes | Seconds | writes/s | p50 ms | p99 ms | max ms | failed | rejected | server CPU ms/write | client CPU ms/write | errors by kind |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            foreach (var r in load)
            {
                md.AppendLine(Inv($"| {r.System} | {Size(r.ValueBytes)} | {r.Writers} | {r.Writes} | {r.Seconds:0.00} | {r.WritesPerSecond:0} | {r.P50Ms:0.00} | {r.P99Ms:0.00} | {r.MaxMs:0.0} | {r.Errors} | {r.Rejected} | {r.ServerCpuMsPerWrite:0.000} | {r.ClientCpuMsPerWrite:0.000} | {Kinds(r.ErrorKinds)} |"));
            }
            md.AppendLine();
            md.AppendLine("</details>");
        }
        return md.ToString();
    }

    private static string Kinds(IReadOnlyDictionary<string, long> kinds) =>
        kinds.Count == 0 ? "" : string.Join("; ", kinds.Take(3).Select(k => Inv($"{k.Value}× {k.Key.Replace('|', '/')}")));

    private static string Size(int bytes) => bytes % 1024 == 0 ? Inv($"{bytes / 1024} KiB") : Inv($"{bytes} B");

    private static string Ms(double ms) => double.IsPositiveInfinity(ms) ? "∞" : ms.ToString("0", CultureInfo.InvariantCulture);

    private static string Yes(bool met) => met ? "**yes**" : "**no**";

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
