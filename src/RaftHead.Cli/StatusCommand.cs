using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using Command = System.CommandLine.Command;

namespace RaftHead.Cli;

/// <summary>
/// <c>rh status</c>: asks every head at once who leads, how far each has applied the log, and, from the leader, which
/// workers serve and how deep the queues are. Heads a head names as members are asked too, so one address finds all.
/// </summary>
internal static class StatusCommand
{
    /// <summary>
    /// A head that has not answered by then counts as down for this look. Generous: a fresh rh process on a loaded
    /// machine spends a second or more on its first call (2 s made the status of a live leader "none known").
    /// </summary>
    private const int AskTimeoutMs = 5_000;

    /// <summary>Bounds the discovery of members through members (a cluster is a handful of heads).</summary>
    private const int DiscoveryPassesMax = 4;

    private const int EndpointsMax = 32;

    private const int PollIntervalMs = 250;

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Command Create()
    {
        var heads = new Option<string?>("--heads") { Description = $"Heads to ask, comma-separated host:port; the members they name are asked too. Default: --endpoint, $RH_ENDPOINT, else {Defaults.Endpoint}." };
        var wait = new Option<int>("--wait") { Description = "Ask again until a leader is known and every member answers, for up to this many seconds; exit 3 if that does not happen." };
        var status = new Command("status", "The cluster: leader, term, each head's log position and lag, workers and queue depths.");
        status.Options.Add(heads);
        status.Options.Add(wait);
        status.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, () =>
        {
            var waitSeconds = result.GetValue(wait);
            if (waitSeconds < 0)
            {
                throw new UsageException($"--wait {waitSeconds} must not be negative");
            }

            var endpoints = ParseHeads(result.GetValue(heads) ?? CliOptions.ResolveEndpoint(result), "--heads");
            return RunAsync(endpoints, waitSeconds, result.GetValue(CliOptions.Json), cancellationToken);
        }));
        return status;
    }

    /// <summary>Endpoints as host:port, in the form heads report their members' addresses.</summary>
    internal static List<string> ParseHeads(string text, string option)
    {
        var endpoints = new List<string>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string authority;
            try
            {
                authority = GrpcChannels.ParseEndpoint(part).Authority;
            }
            catch (FormatException e)
            {
                throw new UsageException($"{option}: {e.Message}");
            }

            if (!endpoints.Contains(authority))
            {
                endpoints.Add(authority);
            }
        }

        if (endpoints.Count == 0)
        {
            throw new UsageException($"{option} names no head");
        }

        return endpoints;
    }

    private static async Task<int> RunAsync(List<string> endpoints, int waitSeconds, bool json, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(waitSeconds);
        var known = new List<string>(endpoints);
        ClusterView view;
        while (true)
        {
            view = await LookAsync(known, cancellationToken).ConfigureAwait(false);
            if (waitSeconds == 0 || view.Complete || DateTime.UtcNow >= deadline)
            {
                break;
            }

            await Task.Delay(PollIntervalMs, cancellationToken).ConfigureAwait(false);
        }

        if (view.Answers.Count == 0 && view.Failures.Count > 0 && AllUnimplemented(view))
        {
            throw new InvalidOperationException($"{string.Join(", ", view.Failures.Keys)} does not serve node status: not a cluster head (rh serve is a single head; rh head and rh up run a cluster)");
        }

        if (json)
        {
            Console.WriteLine(Json(view).ToJsonString(JsonOptions));
        }
        else
        {
            Print(view);
        }

        if (waitSeconds > 0 && !view.Complete)
        {
            await Console.Error.WriteLineAsync($"rh: after {waitSeconds}s: {view.Missing()}").ConfigureAwait(false);
            return CliFailure.ExitUnavailable;
        }

        if (view.Answers.Count == 0)
        {
            await Console.Error.WriteLineAsync($"rh: no head answered: {string.Join("; ", view.Failures.Select(f => $"{f.Key}: {f.Value}"))}").ConfigureAwait(false);
            return CliFailure.ExitUnavailable;
        }

        return 0;
    }

    /// <summary>
    /// One look at the cluster: every known endpoint asked at once, then any member they name that was not known, a
    /// bounded number of times. <paramref name="known"/> grows with what is found, for the next look.
    /// </summary>
    internal static async Task<ClusterView> LookAsync(List<string> known, CancellationToken cancellationToken)
    {
        var answers = new Dictionary<string, GetNodeStatusResponse>(StringComparer.Ordinal);
        var failures = new Dictionary<string, string>(StringComparer.Ordinal);
        var unimplemented = new HashSet<string>(StringComparer.Ordinal);
        var pending = new List<string>(known);
        for (var pass = 0; pass < DiscoveryPassesMax && pending.Count > 0; pass++)
        {
            var asks = new Task<(string Endpoint, GetNodeStatusResponse? Answer, RpcException? Error)>[pending.Count];
            for (var i = 0; i < pending.Count; i++)
            {
                asks[i] = AskAsync(pending[i], cancellationToken);
            }

            pending = new List<string>();
            foreach (var (endpoint, answer, error) in await Task.WhenAll(asks).ConfigureAwait(false))
            {
                if (answer is null)
                {
                    failures[endpoint] = Describe(error!);
                    if (error!.StatusCode == StatusCode.Unimplemented)
                    {
                        unimplemented.Add(endpoint);
                    }

                    continue;
                }

                answers[endpoint] = answer;
                foreach (var member in answer.Members)
                {
                    if (member.Address.Length > 0 && !known.Contains(member.Address) && known.Count < EndpointsMax)
                    {
                        known.Add(member.Address);
                        pending.Add(member.Address);
                    }
                }
            }
        }

        return new ClusterView(answers, failures, unimplemented);
    }

    private static async Task<(string, GetNodeStatusResponse?, RpcException?)> AskAsync(string endpoint, CancellationToken cancellationToken)
    {
        try
        {
            var client = new RaftHead.Protocol.V1.Admin.AdminClient(GrpcChannels.Shared.For(endpoint));
            var answer = await client.GetNodeStatusAsync(new GetNodeStatusRequest(), deadline: DateTime.UtcNow.AddMilliseconds(AskTimeoutMs), cancellationToken: cancellationToken).ConfigureAwait(false);
            return (endpoint, answer, null);
        }
        catch (RpcException) when (cancellationToken.IsCancellationRequested)
        {
            // The caller stopped asking (Ctrl+C): not a head's failure.
            throw new OperationCanceledException(cancellationToken);
        }
        catch (RpcException e)
        {
            return (endpoint, null, e);
        }
    }

    private static bool AllUnimplemented(ClusterView view) => view.Unimplemented.Count == view.Failures.Count;

    private static string Describe(RpcException e) => e.StatusCode switch
    {
        StatusCode.DeadlineExceeded => "no answer in time",
        StatusCode.Unavailable => "unreachable",
        StatusCode.Unimplemented => "not a cluster head",
        _ => $"{e.StatusCode}: {e.Status.Detail}",
    };

    private static void Print(ClusterView view)
    {
        var leader = view.Leader;
        if (leader is not null)
        {
            var answering = view.LeaderAnswer is null ? " (not answering)" : "";
            Console.WriteLine($"leader {leader.Value.Id} at {leader.Value.Address}{answering}, term {view.Term}");
        }
        else
        {
            Console.WriteLine($"leader: none known, term {view.Term}");
        }

        Console.WriteLine();
        Console.WriteLine($"{"id",-4} {"address",-22} {"role",-13} {"pid",8} {"commit",8} {"applied",8} {"lag",6}  up since");
        foreach (var row in view.Rows())
        {
            if (row.Answer is not { } a)
            {
                Console.WriteLine($"{row.IdText,-4} {row.Address,-22} {"down",-13} {"",8} {"",8} {"",8} {"",6}  {row.Failure}");
                continue;
            }

            var lag = view.LagOf(a) is { } l ? l.ToString(CultureInfo.InvariantCulture) : "?";
            var since = a.StartedAt?.ToDateTime().ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "";
            Console.WriteLine($"{row.IdText,-4} {row.Address,-22} {Role(a.Role),-13} {a.Pid,8} {a.CommitIndex,8} {a.AppliedIndex,8} {lag,6}  {since}");
        }

        var from = view.LeaderAnswer;
        if (from is null)
        {
            Console.WriteLine();
            Console.WriteLine("workers and queues: known once a leader answers");
            return;
        }

        Console.WriteLine();
        Console.WriteLine($"workers: {from.Workers.Count}");
        if (from.Workers.Count > 0)
        {
            Console.WriteLine($"  {"worker",-38} {"slots",5} {"leased",6} {"heartbeat",10}  platform");
            foreach (var w in from.Workers)
            {
                var heartbeat = w.HasLastHeartbeatAgeMs ? (w.LastHeartbeatAgeMs / 1000.0).ToString("0.0", CultureInfo.InvariantCulture) + "s ago" : "-";
                var retiring = w.Retiring ? " (retiring)" : "";
                Console.WriteLine($"  {w.WorkerId,-38} {w.Slots,5} {w.Leased,6} {heartbeat,10}  {PlatformText(w.Platform)}{retiring}");
            }
        }

        Console.WriteLine($"queued {from.Queued}, leased {from.Leased}");
        if (from.Queues.Count > 0)
        {
            Console.WriteLine($"  {"priority",8} {"depth",6}  platform");
            foreach (var q in from.Queues)
            {
                Console.WriteLine($"  {q.Priority,8} {q.Depth,6}  {q.PlatformKey}");
            }
        }
    }

    private static JsonObject Json(ClusterView view)
    {
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
                var platform = new JsonObject();
                foreach (var property in w.Platform?.Properties ?? [])
                {
                    platform[property.Name] = property.Value;
                }

                workers.Add(new JsonObject
                {
                    ["id"] = w.WorkerId,
                    ["slots"] = w.Slots,
                    ["leased"] = w.Leased,
                    ["last_heartbeat_age_ms"] = w.HasLastHeartbeatAgeMs ? w.LastHeartbeatAgeMs : null,
                    ["retiring"] = w.Retiring,
                    ["platform"] = platform,
                });
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

    private static string PlatformText(Build.Bazel.Remote.Execution.V2.Platform? platform) =>
        platform is null ? "" : string.Join(',', platform.Properties.Select(p => $"{p.Name}={p.Value}"));
}
