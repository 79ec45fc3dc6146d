using System.CommandLine;
using System.Text.Json;
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
        var known = new List<string>(endpoints);
        ClusterView view;
        var toldNoLeader = false;
        DateTime? deadline = null;
        while (true)
        {
            view = await LookAsync(known, cancellationToken).ConfigureAwait(false);
            // The window opens after the first look: a fresh process's first call alone can take a second.
            deadline ??= DateTime.UtcNow.AddSeconds(waitSeconds);
            if (waitSeconds == 0 || view.Complete || DateTime.UtcNow >= deadline)
            {
                break;
            }

            if (view.Leader is null && view.Answers.Count > 0 && !toldNoLeader)
            {
                toldNoLeader = true;
                await Console.Error.WriteLineAsync(NoLeaderRetry.RetryingLine).ConfigureAwait(false);
            }

            await Task.Delay(PollIntervalMs, cancellationToken).ConfigureAwait(false);
        }

        if (view.Answers.Count == 0 && view.Failures.Count > 0 && AllUnimplemented(view))
        {
            throw new InvalidOperationException($"{string.Join(", ", view.Failures.Keys)} does not serve node status: not a cluster head (rh serve is a single head; rh head and rh up run a cluster)");
        }

        if (json)
        {
            Console.WriteLine(StatusOutput.Json(view).ToJsonString(JsonOptions));
        }
        else
        {
            Console.Write(StatusOutput.Render(view, DateTimeOffset.UtcNow, HumanOutput.ForStdout()));
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
        var errors = new Dictionary<string, RpcException>(StringComparer.Ordinal);
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
                    errors[endpoint] = error!;
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

        return new ClusterView(answers, errors);
    }

    /// <summary>
    /// The leader's own status, found from <paramref name="endpoints"/> through the members they name. While no leader
    /// answers, says so once on stderr and looks again, for up to <paramref name="waitSeconds"/>. When no head answers
    /// at all, the first one's failure is thrown as it came, for <see cref="CliFailure"/> to name.
    /// </summary>
    internal static async Task<GetNodeStatusResponse> LeaderAsync(List<string> endpoints, int waitSeconds, CancellationToken cancellationToken)
    {
        var known = new List<string>(endpoints);
        var view = await LookAsync(known, cancellationToken).ConfigureAwait(false);
        if (view.Answers.Count == 0 && view.Errors.TryGetValue(endpoints[0], out var first))
        {
            throw first;
        }

        if (view.LeaderAnswer is null && waitSeconds > 0)
        {
            // The window opens after the first look: a fresh process's first call alone can take a second.
            await Console.Error.WriteLineAsync(NoLeaderRetry.RetryingLine).ConfigureAwait(false);
            var deadline = DateTime.UtcNow.AddSeconds(waitSeconds);
            while (view.LeaderAnswer is null && DateTime.UtcNow < deadline)
            {
                await Task.Delay(PollIntervalMs, cancellationToken).ConfigureAwait(false);
                view = await LookAsync(known, cancellationToken).ConfigureAwait(false);
            }
        }

        return view.LeaderAnswer ?? throw new NoLeaderException(waitSeconds > 0 ? $"no leader after {waitSeconds}s: {view.Missing()}" : $"no leader: {view.Missing()}");
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
}
