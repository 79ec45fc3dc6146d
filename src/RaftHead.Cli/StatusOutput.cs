using System.Globalization;
using System.Text.Json.Nodes;
using RaftHead.Protocol.V1;
using Spectre.Console;

namespace RaftHead.Cli;

/// <summary><c>rh status</c>'s output, from one look at the cluster; <c>now</c> only turns start times into uptimes.</summary>
internal static class StatusOutput
{
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
    }

    /// <summary>
    /// One object: <c>leader</c> (id, address, answering; null when none is known), <c>term</c>, <c>complete</c>,
    /// <c>members</c> (id, address, up, then role, pid, started_at, term, commit_index, applied_index, last_index, lag, or
    /// error), <c>workers</c> (as <c>rh workers --json</c>), <c>queues</c> (platform, priority, depth), <c>queued</c>, <c>leased</c>.
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
