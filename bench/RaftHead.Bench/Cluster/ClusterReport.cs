using System.Globalization;
using System.Text;

namespace RaftHead.Bench.Cluster;

/// <summary>The cluster scenario's markdown: tables, ratios, and each goal met or not.</summary>
internal static class ClusterReport
{
    public static string ToMarkdown(ClusterOptions o, ClusterResults r, string commandLine, DateTimeOffset started, TimeSpan wall, string machine)
    {
        var s = new StringBuilder();
        void L(FormattableString line) => s.AppendLine(line.ToString(CultureInfo.InvariantCulture));
        L($"### Replicated head vs single node ({started:yyyy-MM-dd HH:mm} UTC, {wall.TotalMinutes:0.0} min)");
        L($"");
        L($"`{commandLine}` — rh: `{r.RhPath}`; {machine}");
        L($"");
        L($"Load average (1/5/15 min, runnable/total, last pid): before `{r.LoadBefore}`, after the Execute cases `{r.LoadAfterExecute}`, at the end `{r.LoadAfter}`.");
        L($"Slots {o.Slots}; many clients = {o.Clients}; a case is {o.CaseSeconds:0.#} s or {o.CaseCallsMax:N0} calls, whichever first. Each Execute is a fresh action (`skip_cache_lookup`), all three targets up at once and taking turns.");
        L($"");
        L($"| Execute, no-op `/bin/true` | clients | calls | p50 ms | p99 ms | actions/s | failed calls |");
        L($"|---|---:|---:|---:|---:|---:|---:|");
        foreach (var x in r.Execute)
        {
            L($"| {x.Case} | {x.Clients} | {x.Calls:N0} | {x.P50Us / 1000:0.00} | {x.P99Us / 1000:0.00} | {x.PerSecond:0} | {x.Errors}{(x.LastError is null ? "" : $" ({x.LastError})")} |");
        }

        if (r.Spawn is { } sp)
        {
            L($"| baseline: {sp.Case}, in process | {sp.Clients} (slots) | {sp.Calls:N0} | {sp.P50Us / 1000:0.00} | {sp.P99Us / 1000:0.00} | {sp.PerSecond:0} | 0 |");
        }

        L($"");
        var split = r.Execute.Where(x => x.StageP50Us is not null).ToList();
        if (split.Count > 0)
        {
            L($"Where a fresh no-op Execute's time goes (median of each stage, ms; clients' and heads' clocks are the same machine's):");
            L($"");
            L($"| stage | {string.Join(" | ", split.Select(x => FormattableString.Invariant($"{x.Case}, {x.Clients} client(s)")))} |");
            L($"|---|{string.Concat(split.Select(_ => "---:|"))}");
            for (var i = 0; i < ExecuteLoad.StageNames.Length; i++)
            {
                L($"| {ExecuteLoad.StageNames[i]} | {string.Join(" | ", split.Select(x => FormattableString.Invariant($"{x.StageP50Us![i] / 1000:0.00}")))} |");
            }

            L($"");
        }

        L($"| Execute, cache hit (1 client) | calls | p50 ms | p99 ms |");
        L($"|---|---:|---:|---:|");
        foreach (var x in r.Cached)
        {
            L($"| {x.Case} | {x.Calls:N0} | {x.P50Us / 1000:0.00} | {x.P99Us / 1000:0.00} |");
        }

        L($"");
        var single1 = r.Execute.Find(x => x.Clients == 1 && x.Case.StartsWith("single", StringComparison.Ordinal));
        var leader1 = r.Execute.Find(x => x.Clients == 1 && x.Case.Contains("leader", StringComparison.Ordinal));
        var follower1 = r.Execute.Find(x => x.Clients == 1 && x.Case.Contains("follower", StringComparison.Ordinal));
        var leaderMany = r.Execute.Find(x => x.Clients == o.Clients && x.Case.Contains("leader", StringComparison.Ordinal));
        var followerMany = r.Execute.Find(x => x.Clients == o.Clients && x.Case.Contains("follower", StringComparison.Ordinal));
        var singleMany = r.Execute.Find(x => x.Clients == o.Clients && x.Case.StartsWith("single", StringComparison.Ordinal));
        L($"Goals:");
        if (single1 is not null && leader1 is not null && follower1 is not null)
        {
            var ratio = leader1.P50Us / single1.P50Us;
            L($"- replicated no-op p50 ≤ 5 ms and ≤ 2x single node: leader {leader1.P50Us / 1000:0.00} ms ({ratio:0.00}x of {single1.P50Us / 1000:0.00} ms), follower {follower1.P50Us / 1000:0.00} ms ({follower1.P50Us / single1.P50Us:0.00}x) — **{Met(leader1.P50Us <= 5_000 && ratio <= 2)}** (at the leader).");
        }

        if (r.Cached.Count > 0)
        {
            var worstCached = r.Cached.Max(x => x.P50Us);
            L($"- cache-hit p50 ≤ 1 ms: {string.Join(", ", r.Cached.Select(x => FormattableString.Invariant($"{x.Case} {x.P50Us / 1000:0.00} ms")))} — **{Met(worstCached <= 1_000)}**.");
        }
        if (r.Spawn is { } spawn && leaderMany is not null && followerMany is not null && singleMany is not null)
        {
            L($"- replicated actions/s ≥ 50% of the spawn path ({spawn.PerSecond:0}/s on {o.Slots} slots): leader {leaderMany.PerSecond:0}/s ({leaderMany.PerSecond / spawn.PerSecond:P0}), follower {followerMany.PerSecond:0}/s ({followerMany.PerSecond / spawn.PerSecond:P0}); single node {singleMany.PerSecond:0}/s ({singleMany.PerSecond / spawn.PerSecond:P0}); replicated/single {leaderMany.PerSecond / singleMany.PerSecond:0.00}x — **{Met(leaderMany.PerSecond >= 0.5 * spawn.PerSecond)}**.");
        }

        if (r.FailoverMs.Count > 0)
        {
            var sorted = r.FailoverMs.Order().ToArray();
            L($"");
            L($"Failover seen by a client ({sorted.Length} kills of the leader, `kill -9` of the pid from GetNodeStatus, `rh up` restarting it; three members healthy again before each kill): time from the kill until a fresh no-op Execute is accepted and done, the client trying the next head 50 ms after each failure: median **{sorted[(sorted.Length - 1) / 2]:0} ms**, max **{sorted[^1]:0} ms**, min {sorted[0]:0} ms. All: {string.Join(", ", r.FailoverMs.Select(m => FormattableString.Invariant($"{m:0}")))}. Failed attempts on the way: {(r.FailoverErrors.Count == 0 ? "none" : string.Join(", ", r.FailoverErrors.GroupBy(e => e).Select(g => $"{g.Key} ×{g.Count()}")))}.{(r.FailoverNote is null ? "" : " Note: " + r.FailoverNote)}");
        }

        if (r.ScaleLeaderPid != 0)
        {
            var heartbeatCpu = r.CpuHeartbeats - r.CpuIdle;
            L($"");
            L($"Scale: three `rh head` processes (no real worker), {o.SimulatedWorkers:N0} simulated workers registered in {r.RegisterSeconds:0.0} s over 16 HTTP/2 connections, each heartbeating once a second ({r.HeartbeatsPerSecond:0} heartbeats/s measured, {r.HeartbeatFailures} failed); term {r.ScaleTermBefore} at the start, {r.ScaleTermAfter} after the flow; {o.LeasingWorkers} of them declare 256 slots and, as real workers do by default, one lease ahead per slot, lease (512 free, 500 ms wait) and complete each lease at once; the others declare 1 slot, so placement (most free slots first) grants to the leasing ones.");
            L($"");
            L($"| leader (pid {r.ScaleLeaderPid}) CPU, share of one core | |");
            L($"|---|---:|");
            L($"| idle, no simulated workers ({o.CpuWindowSeconds:0} s) | {r.CpuIdle:P1} |");
            L($"| {o.SimulatedWorkers:N0} workers heartbeating ({o.CpuWindowSeconds:0} s) | {r.CpuHeartbeats:P1} |");
            L($"| heartbeats alone (difference) | {heartbeatCpu:P1} |");
            L($"| heartbeats + no-op flow from {o.Clients} clients | {r.CpuFlow:P1} |");
            L($"");
            if (r.Flow is { } flow)
            {
                L($"Dispatch with the flow: {r.GrantsPerSecond:0} grants/s and {r.CompletionsPerSecond:0} completions/s at the simulated workers; the clients saw {flow.Calls:N0} Executes done at {flow.PerSecond:0}/s (p50 {flow.P50Us / 1000:0.0} ms, p99 {flow.P99Us / 1000:0.0} ms), {flow.Errors} failed{(flow.LastError is null ? "" : $" (last: {flow.LastError})")}.");
            }

            if (r.DrainQueued > 0)
            {
                L($"");
                L($"Drain (dispatch capacity): with leasing paused, {r.DrainQueued:N0} no-op operations queued in {r.DrainFillSeconds:0.0} s; then all {o.SimulatedWorkers:N0} workers lease (free = their slots plus one lease ahead per slot, 500 ms wait) and complete each lease at once: {r.DrainGranted:N0} leases received and {r.DrainCompleted:N0} completions accepted in {r.DrainSeconds:0.00} s (at most {o.DrainSeconds:0} s){(r.DrainStalled > 0 ? FormattableString.Invariant($"; {r.DrainStalled:N0} were never completed (leases lost in a leader change wait for their expiry), so the rates end at the last completion") : "")}; term after: {r.DrainTermAfter} (term {r.ScaleTermBefore} when the scale phase began; the workers followed {r.DrainLeaderMoves} leader change(s), as real workers do).");
                L($"");
                L($"| drain | grants/s (leases received) | completions/s | leader CPU, share of one core | leader CPU µs a grant | three heads' CPU | simulated workers' CPU | failed worker calls | load average after |");
                L($"|---|---:|---:|---:|---:|---:|---:|---:|---|");
                L($"| {o.SimulatedWorkers:N0} workers, {r.DrainQueued:N0} queued | {r.DrainGranted / r.DrainSeconds:0} | {r.DrainCompleted / r.DrainSeconds:0} | {r.DrainCpu:P1} | {r.DrainCpu * r.DrainWindowSeconds * 1e6 / Math.Max(1, r.DrainGranted):0} | {r.DrainHeadsCpu:P1} | {r.DrainBenchCpu:P1} | {r.DrainFailures} | `{r.DrainLoad}` |");
            }

            L($"");
            L($"- heartbeat CPU ≤ 10% of a core: {heartbeatCpu:P1} — **{Met(heartbeatCpu <= 0.10)}**.");
            L($"- ≥ 10,000 dispatch decisions/s: with the flow {r.GrantsPerSecond:0}/s (bounded by the {o.Clients} clients' submits){(r.DrainQueued > 0 ? FormattableString.Invariant($"; draining a deep queue {r.DrainGranted / r.DrainSeconds:0}/s") : "")} — **{Met(Math.Max(r.GrantsPerSecond, r.DrainQueued > 0 ? r.DrainGranted / r.DrainSeconds : 0) >= 10_000)}**.");
            L($"- full queue: with leasing stopped, {r.QueueAccepted:N0} submits accepted then {r.QueueRefused:N0} answered RESOURCE_EXHAUSTED with RetryInfo (every one checked), refusals p50 {r.QueueRefusedP50Us / 1000:0.00} ms, p99 {r.QueueRefusedP99Us / 1000:0.00} ms; {r.QueueSeconds:0.0} s in all — **{Met(r.QueueRefused > 0)}**.");
        }

        return s.ToString();
    }

    private static string Met(bool met) => met ? "met" : "not met";
}
