using System.Globalization;
using System.Text.Json.Nodes;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using Spectre.Console;

namespace RaftHead.Cli;

/// <summary><c>rh status</c>'s output, from one look at the cluster; <c>now</c> only turns start times into uptimes.</summary>
internal static class StatusOutput
{
    /// <summary>Non-determinism reports printed under the speculation line, the most recent first.</summary>
    private const int ReportsShown = 3;

    /// <summary>Output paths named per report; the rest are counted.</summary>
    private const int DifferencesShown = 3;

    public static string Render(ClusterView view, DateTimeOffset now, HumanOutput output)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(output);
        return output.Render(console => Draw(console, view, now, output));
    }

    private static void Draw(IAnsiConsole console, ClusterView view, DateTimeOffset now, HumanOutput output)
    {
        var leader = view.Leader;
        if (leader is not null)
        {
            var answering = view.LeaderAnswer is null ? " (not answering)" : "";
            console.WriteLine($"leader {leader.Value.Id} at {leader.Value.Address}{answering}, term {view.Term}");
        }
        else
        {
            console.WriteLine($"leader: none known, term {view.Term}");
        }

        console.WriteLine();
        var members = output.Table("id", "address", "role", ">pid", ">commit", ">applied", ">lag", ">up");
        foreach (var row in view.Rows())
        {
            if (row.Answer is not { } a)
            {
                var why = row.Failure is { Length: > 0 } failure ? $"down ({failure})" : "down";
                members.AddRow(output.Cell(row.IdText), output.Cell(row.Address), output.Cell(why, Color.Red), output.Cell(""), output.Cell(""), output.Cell(""), output.Cell(""), output.Cell(""));
                continue;
            }

            var lag = view.LagOf(a) is { } l ? l.ToString(CultureInfo.InvariantCulture) : "?";
            var up = a.StartedAt is null ? "-" : Humanize.Duration(now - a.StartedAt.ToDateTimeOffset());
            members.AddRow(
                output.Cell(row.IdText),
                output.Cell(row.Address),
                output.Cell(Role(a.Role), a.Role == NodeRole.Leader ? Color.Green : null),
                output.Cell(a.Pid.ToString(CultureInfo.InvariantCulture)),
                output.Cell(a.CommitIndex.ToString(CultureInfo.InvariantCulture)),
                output.Cell(a.AppliedIndex.ToString(CultureInfo.InvariantCulture)),
                output.Cell(lag),
                output.Cell(up));
        }

        console.Write(members);
        var from = view.LeaderAnswer;
        console.WriteLine();
        if (from is null)
        {
            console.WriteLine("workers and queues: known once a leader answers");
            return;
        }

        console.WriteLine($"workers: {from.Workers.Count}");
        if (from.Workers.Count > 0)
        {
            WorkersOutput.Draw(console, from, output);
        }

        console.WriteLine();
        console.WriteLine($"queued {from.Queued}, leased {from.Leased}");
        if (from.Queues.Count > 0)
        {
            var queues = output.Table(">priority", ">depth", "platform");
            foreach (var q in from.Queues)
            {
                queues.AddRow(output.Cell(q.Priority.ToString(CultureInfo.InvariantCulture)), output.Cell(q.Depth.ToString(CultureInfo.InvariantCulture)), output.Cell(q.PlatformKey.Length == 0 ? "-" : q.PlatformKey));
            }

            console.Write(queues);
        }

        DrawSpeculation(console, from.Speculation ?? new SpeculationStatus(), now);
    }

    /// <summary>What racing clones cost and won, and the latest actions whose runs disagreed (most recent first).</summary>
    private static void DrawSpeculation(IAnsiConsole console, SpeculationStatus speculation, DateTimeOffset now)
    {
        var c = CultureInfo.InvariantCulture;
        console.WriteLine();
        var clones = speculation.ClonesStarted == 0 && speculation.WastedWorkerMs == 0
            ? "no clones started"
            : string.Create(c, $"{speculation.ClonesStarted} clone(s) started, {speculation.ClonesWon} won, {Humanize.DurationMs(speculation.WastedWorkerMs)} of worker time lost to races");
        console.WriteLine(string.Create(c, $"speculation: {clones}; {NondeterministicActions(speculation)} non-deterministic action(s)"));
        var shown = 0;
        for (var i = speculation.Nondeterminism.Count - 1; i >= 0 && shown < ReportsShown; i--, shown++)
        {
            var report = speculation.Nondeterminism[i];
            var ago = report.AtUnixMs > 0 ? Humanize.Duration(now - DateTimeOffset.FromUnixTimeMilliseconds(report.AtUnixMs)) + " ago" : "-";
            var kind = report.ActionClass.Length > 0 ? $" ({report.ActionClass})" : "";
            var other = report.VerifiedBy.Length > 0 ? $"its verification run {report.VerifiedBy}" : $"attempt {report.OtherAttempt}";
            console.WriteLine(string.Create(c, $"  {ago}: {Digests.ToResourceString(report.ActionDigest)}{kind} {report.OperationName}: attempt {report.WinnerAttempt} on {Named(report.WinnerWorkerId)} and {other} on {Named(report.OtherWorkerId)} differ in {Differences(report)}"));
        }

        if (speculation.Nondeterminism.Count > shown)
        {
            console.WriteLine(string.Create(c, $"  ({speculation.Nondeterminism.Count - shown} earlier report(s): rh status --json lists them)"));
        }
    }

    /// <summary>Reports name an action each time its runs disagree; an action counts once.</summary>
    public static int NondeterministicActions(SpeculationStatus speculation)
    {
        ArgumentNullException.ThrowIfNull(speculation);
        var actions = new HashSet<(string, string, long)>();
        foreach (var report in speculation.Nondeterminism)
        {
            actions.Add((report.InstanceName, report.ActionDigest?.Hash ?? "", report.ActionDigest?.SizeBytes ?? 0));
        }

        return actions.Count;
    }

    private static string Named(string workerId) => workerId.Length > 0 ? workerId : "?";

    private static string Differences(NondeterminismReport report)
    {
        if (report.Differences.Count == 0)
        {
            return "their outputs";
        }

        var paths = string.Join(", ", report.Differences.Take(DifferencesShown).Select(d => d.Path));
        return report.Differences.Count > DifferencesShown
            ? string.Create(CultureInfo.InvariantCulture, $"{paths} and {report.Differences.Count - DifferencesShown} more")
            : paths;
    }

    /// <summary>
    /// One object: <c>leader</c> (id, address, answering; null when none is known), <c>term</c>, <c>complete</c>,
    /// <c>members</c> (id, address, up, then role, pid, started_at, term, commit_index, applied_index, last_index, lag, or
    /// error), <c>workers</c> (as <c>rh workers --json</c>), <c>queues</c> (platform, priority, depth), <c>queued</c>, <c>leased</c>,
    /// <c>speculation</c> (clone counters and non-determinism reports; null without a leader's answer).
    /// </summary>
    public static JsonObject Json(ClusterView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        var leader = view.Leader;
        var members = new JsonArray();
        foreach (var row in view.Rows())
        {
            var member = new JsonObject { ["id"] = row.Id, ["address"] = row.Address, ["up"] = row.Answer is not null };
            if (row.Answer is { } a)
            {
                member["role"] = Role(a.Role);
                member["pid"] = a.Pid;
                member["started_at"] = a.StartedAt?.ToDateTime().ToString("O", CultureInfo.InvariantCulture);
                member["term"] = a.Term;
                member["commit_index"] = a.CommitIndex;
                member["applied_index"] = a.AppliedIndex;
                member["last_index"] = a.LastIndex;
                member["lag"] = view.LagOf(a);
            }
            else
            {
                member["error"] = row.Failure;
            }

            members.Add(member);
        }

        var workers = new JsonArray();
        var queues = new JsonArray();
        var from = view.LeaderAnswer;
        if (from is not null)
        {
            foreach (var w in from.Workers)
            {
                workers.Add(WorkersOutput.Json(w, from));
            }

            foreach (var q in from.Queues)
            {
                queues.Add(new JsonObject { ["platform"] = q.PlatformKey, ["priority"] = q.Priority, ["depth"] = q.Depth });
            }
        }

        return new JsonObject
        {
            ["leader"] = leader is { } l ? new JsonObject { ["id"] = l.Id, ["address"] = l.Address, ["answering"] = view.LeaderAnswer is not null } : null,
            ["term"] = view.Term,
            ["complete"] = view.Complete,
            ["members"] = members,
            ["workers"] = workers,
            ["queues"] = queues,
            ["queued"] = from?.Queued,
            ["leased"] = from?.Leased,
            ["speculation"] = from is null ? null : SpeculationJson(from.Speculation ?? new SpeculationStatus()),
        };
    }

    /// <summary>Counters, then every non-determinism report the leader keeps, oldest first (as the head orders them).</summary>
    public static JsonObject SpeculationJson(SpeculationStatus speculation)
    {
        ArgumentNullException.ThrowIfNull(speculation);
        var reports = new JsonArray();
        foreach (var report in speculation.Nondeterminism)
        {
            var differences = new JsonArray();
            foreach (var difference in report.Differences)
            {
                differences.Add(new JsonObject { ["path"] = difference.Path, ["winner"] = difference.Winner, ["other"] = difference.Other });
            }

            reports.Add(new JsonObject
            {
                ["operation"] = report.OperationName,
                ["instance_name"] = report.InstanceName,
                ["action_digest"] = report.ActionDigest is null ? null : Digests.ToResourceString(report.ActionDigest),
                ["action_class"] = report.ActionClass,
                ["winner_attempt"] = report.WinnerAttempt,
                ["winner_worker"] = report.WinnerWorkerId,
                ["other_attempt"] = report.OtherAttempt,
                ["other_worker"] = report.OtherWorkerId,
                ["verified_by"] = report.VerifiedBy.Length > 0 ? report.VerifiedBy : null,
                ["differences"] = differences,
                ["at"] = report.AtUnixMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(report.AtUnixMs).ToString("O", CultureInfo.InvariantCulture) : null,
            });
        }

        return new JsonObject
        {
            ["clones_started"] = speculation.ClonesStarted,
            ["clones_won"] = speculation.ClonesWon,
            ["wasted_worker_ms"] = speculation.WastedWorkerMs,
            ["nondeterministic_actions"] = NondeterministicActions(speculation),
            ["nondeterminism"] = reports,
        };
    }

    private static string Role(NodeRole role) => role switch
    {
        NodeRole.Follower => "follower",
        NodeRole.PreCandidate => "pre-candidate",
        NodeRole.Candidate => "candidate",
        NodeRole.Leader => "leader",
        NodeRole.Learner => "learner",
        _ => "unknown",
    };
}
