using System.Globalization;
using System.Text;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Tests.Harness;

/// <summary>
/// Runs a scenario script against a <see cref="Network"/>, in the spirit of etcd's data-driven interaction
/// tests: lines starting with "> " are commands, the lines after a command are its expected output, and "#"
/// lines are commentary. The runner returns the script with the actual outputs filled in, so a test compares
/// texts (and RAFT_REWRITE=1 regenerates the expectations for review in a diff).
/// </summary>
public static class ScriptRunner
{
    public static string Run(string script)
    {
        var output = new StringBuilder();
        Network? net = null;
        foreach (var raw in script.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith('#'))
            {
                output.AppendLine(line);
                continue;
            }
            if (!line.StartsWith("> ", StringComparison.Ordinal)) continue; // expected output or blank: regenerated
            output.AppendLine(line);
            var words = line[2..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var result in Execute(ref net, words)) output.AppendLine(result);
        }
        return output.ToString();
    }

    private static List<string> Execute(ref Network? net, string[] w)
    {
        long Id(int i) => long.Parse(w[i], CultureInfo.InvariantCulture);
        int Count(int i, int fallback) => w.Length > i ? int.Parse(w[i], CultureInfo.InvariantCulture) : fallback;
        switch (w[0])
        {
            case "network":
                var preVote = !w.Contains("prevote=off");
                var checkQuorum = w.Contains("checkquorum=on");
                net = new Network(Count(1, 3), c => c with { PreVote = preVote, CheckQuorum = checkQuorum });
                return [];
        }
        var n = net ?? throw new InvalidOperationException("The script must start with 'network'.");
        switch (w[0])
        {
            case "elect":
                n.ElectLeader(Id(1));
                return [];
            case "campaign":
                n.Campaign(Id(1));
                return [];
            case "propose":
                var p = n.Propose(Id(1), w[2]);
                return [p.Accepted ? $"accepted index={p.Index} term={p.Term}" : $"{p.Status} leader={p.LeaderHint}"];
            case "tick":
                n.Tick(Id(1), Count(2, 1));
                return [];
            case "tick-all":
                for (var i = 0; i < Count(1, 1); i++)
                {
                    n.TickAll();
                    n.Stabilize();
                }
                return [];
            case "stabilize":
                n.Stabilize();
                return [];
            case "isolate":
                n.Isolate(Id(1));
                return [];
            case "heal":
                n.Heal();
                return [];
            case "crash":
                n.Crash(Id(1));
                return [];
            case "restart":
                n.Restart(Id(1));
                return [];
            case "add-node":
                n.AddEmptyNode(Id(1));
                return [];
            case "change":
                var kind = w[2] switch
                {
                    "add-voter" => MembershipChangeKind.AddVoter,
                    "add-learner" => MembershipChangeKind.AddLearner,
                    "promote" => MembershipChangeKind.PromoteLearner,
                    "remove" => MembershipChangeKind.Remove,
                    _ => throw new InvalidOperationException($"unknown change {w[2]}"),
                };
                var c = n.ProposeChange(Id(1), kind, Id(3));
                return [c.Accepted ? $"accepted index={c.Index}" : c.Status.ToString()];
            case "transfer":
                var ok = n.Node(Id(1)).TransferLeadership(Id(2));
                n.Flush(Id(1));
                return [ok ? "transferring" : "refused"];
            case "read":
                return [n.ReadIndex(Id(1), w[2]) ? "requested" : "refused"];
            case "reads":
                return n[Id(1)].ReadStates.Select(r => $"read {Encoding.UTF8.GetString(r.Context.Span)} at index {r.Index}").ToList();
            case "compact":
                n.Compact(Id(1));
                return [];
            case "status":
                return n.Peers.OrderBy(p => p.Id).Select(Status).ToList();
            default:
                throw new InvalidOperationException($"unknown command '{w[0]}'");
        }
    }

    private static string Status(Peer p)
    {
        if (p.Crashed) return $"n{p.Id} down";
        var node = p.Node;
        var role = node.Role.ToString();
        var membership = node.Membership.Contains(p.Id) ? "" : " (not a member)";
        return $"n{p.Id} {role}{membership} term={node.Term} leader={node.Leader} last={node.Log.LastIndex} commit={node.Log.Committed} applied=[{string.Join(' ', p.Applied)}]";
    }
}
