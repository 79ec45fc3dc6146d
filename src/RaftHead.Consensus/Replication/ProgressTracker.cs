using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Quorum;

namespace RaftHead.Consensus.Replication;

/// <summary>Membership plus per-member progress and the votes of the current election.</summary>
public sealed class ProgressTracker
{
    private readonly int _maxInflightMessages;
    private readonly SortedDictionary<long, Progress> _progress = new();
    private readonly Dictionary<long, bool> _votes = new();

    public ProgressTracker(int maxInflightMessages)
    {
        _maxInflightMessages = maxInflightMessages;
    }

    public ClusterMembership Membership { get; private set; } = ClusterMembership.Empty;

    public IReadOnlyDictionary<long, Progress> Progress => _progress;

    public Progress? Get(long id) => _progress.GetValueOrDefault(id);

    /// <summary>Installs a membership; members new to the tracker start probing at <paramref name="lastIndex"/>+1.</summary>
    public void SetMembership(ClusterMembership membership, long lastIndex)
    {
        Membership = membership;
        foreach (var id in _progress.Keys.ToList())
        {
            if (!membership.Contains(id)) _progress.Remove(id);
        }
        foreach (var id in membership.Members)
        {
            if (_progress.TryGetValue(id, out var existing))
            {
                existing.IsLearner = membership.IsLearner(id);
                continue;
            }
            // Treat a new member as active so check-quorum does not depose the leader before it answers.
            _progress[id] = new Progress(lastIndex + 1, _maxInflightMessages, membership.IsLearner(id)) { RecentActive = true };
        }
    }

    /// <summary>
    /// Fresh progress for every member; <paramref name="selfMatch"/> is how much of the log is durable on
    /// <paramref name="selfId"/> (at most <paramref name="lastIndex"/>), which is all the leader may count for itself.
    /// </summary>
    public void ResetAll(long lastIndex, long selfId, long selfMatch)
    {
        foreach (var (id, pr) in _progress.ToList())
        {
            var fresh = new Progress(lastIndex + 1, _maxInflightMessages, pr.IsLearner);
            if (id == selfId) fresh.ResetMatch(Math.Min(selfMatch, lastIndex), lastIndex + 1);
            _progress[id] = fresh;
        }
    }

    public long Committed() =>
        MajorityQuorum.CommittedIndex(Membership.Voters, id => _progress.TryGetValue(id, out var pr) ? pr.Match : 0);

    /// <summary>Whether a majority of voters has been heard from since the last round (self counts as active).</summary>
    public bool QuorumActive(long selfId) =>
        MajorityQuorum.Tally(Membership.Voters, id =>
            id == selfId || (_progress.TryGetValue(id, out var pr) && pr.RecentActive) ? true : null) == VoteResult.Won;

    public void ResetRecentActive(long selfId)
    {
        foreach (var (id, pr) in _progress) pr.RecentActive = id == selfId;
    }

    public void ResetVotes() => _votes.Clear();

    public void RecordVote(long id, bool granted) => _votes.TryAdd(id, granted);

    public VoteResult TallyVotes() =>
        MajorityQuorum.Tally(Membership.Voters, id => _votes.TryGetValue(id, out var v) ? v : null);
}
