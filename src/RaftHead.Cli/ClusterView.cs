using Grpc.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli;

/// <summary>
/// What one look at the cluster found: the heads that answered (by the endpoint asked) and why the others did not.
/// Members are known by id from the answers; an endpoint asked that no answer names is still shown, by address.
/// </summary>
internal sealed class ClusterView
{
    public ClusterView(Dictionary<string, GetNodeStatusResponse> answers, Dictionary<string, RpcException> errors)
    {
        Answers = answers;
        Errors = errors;
        Failures = new Dictionary<string, string>(StringComparer.Ordinal);
        Unimplemented = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (endpoint, error) in errors)
        {
            Failures[endpoint] = CliFailure.Describe(error);
            if (error.StatusCode == StatusCode.Unimplemented)
            {
                Unimplemented.Add(endpoint);
            }
        }

        foreach (var answer in answers.Values)
        {
            Term = Math.Max(Term, answer.Term);
            if (answer.Role == NodeRole.Leader && (LeaderAnswer is null || answer.Term > LeaderAnswer.Term))
            {
                LeaderAnswer = answer;
            }
        }
    }

    public Dictionary<string, GetNodeStatusResponse> Answers { get; }

    /// <summary>Why each endpoint that did not answer failed.</summary>
    public Dictionary<string, RpcException> Errors { get; }

    /// <summary>The same, in words.</summary>
    public Dictionary<string, string> Failures { get; }

    public HashSet<string> Unimplemented { get; }

    /// <summary>The highest term any head reported.</summary>
    public long Term { get; }

    /// <summary>The leader's own answer (of the highest term, should two heads both still believe they lead).</summary>
    public GetNodeStatusResponse? LeaderAnswer { get; }

    /// <summary>The leader: by its own answer, else as the heads of the latest term name it.</summary>
    public (long Id, string Address)? Leader
    {
        get
        {
            if (LeaderAnswer is { } own)
            {
                return (own.NodeId, own.Address);
            }

            foreach (var answer in Answers.Values)
            {
                if (answer.Term == Term && answer.LeaderId != 0)
                {
                    return (answer.LeaderId, answer.LeaderAddress);
                }
            }

            return null;
        }
    }

    /// <summary>A leader answered and so did every member.</summary>
    public bool Complete => LeaderAnswer is not null && Rows().TrueForAll(row => row.Answer is not null);

    /// <summary>How many entries the member has yet to apply of those the leader holds; null without the leader's answer.</summary>
    public long? LagOf(GetNodeStatusResponse member) => LeaderAnswer is null ? null : Math.Max(0, LeaderAnswer.LastIndex - member.AppliedIndex);

    /// <summary>One row per member (by id), then one per endpoint asked that is no known member's.</summary>
    public List<MemberRow> Rows()
    {
        var addresses = new SortedDictionary<long, string>();
        var byId = new Dictionary<long, GetNodeStatusResponse>();
        // The leader's membership first: it is the newest; a follower's may lag behind a change.
        IEnumerable<GetNodeStatusResponse> answers = LeaderAnswer is null ? Answers.Values : Answers.Values.Prepend(LeaderAnswer);
        foreach (var answer in answers)
        {
            byId.TryAdd(answer.NodeId, answer);
            addresses.TryAdd(answer.NodeId, answer.Address);
            foreach (var member in answer.Members)
            {
                if (!addresses.TryGetValue(member.Id, out var known) || known.Length == 0)
                {
                    addresses[member.Id] = member.Address;
                }
            }
        }

        var rows = new List<MemberRow>(addresses.Count + Failures.Count);
        var shown = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (id, address) in addresses)
        {
            var answer = byId.GetValueOrDefault(id);
            rows.Add(new MemberRow(id, address, answer, answer is null ? Failures.GetValueOrDefault(address) ?? "not reached" : null));
            shown.Add(address);
        }

        foreach (var (endpoint, failure) in Failures)
        {
            if (!shown.Contains(endpoint))
            {
                rows.Add(new MemberRow(null, endpoint, null, failure));
            }
        }

        return rows;
    }

    /// <summary>Why the view is not complete, in words.</summary>
    public string Missing()
    {
        var down = new List<string>();
        foreach (var row in Rows())
        {
            if (row.Answer is null)
            {
                down.Add(row.Id is { } id ? $"{id} at {row.Address}" : row.Address);
            }
        }

        var parts = new List<string>(2);
        if (LeaderAnswer is null)
        {
            parts.Add(Leader is { } l ? $"leader {l.Id} at {l.Address} is not answering" : "no leader known");
        }

        if (down.Count > 0)
        {
            parts.Add($"not answering: {string.Join(", ", down)}");
        }

        return string.Join("; ", parts);
    }
}
