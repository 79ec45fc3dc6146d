using System.Collections.Immutable;
using System.Diagnostics;

namespace RaftHead.Consensus.Membership;

/// <summary>
/// Who votes and who only listens. Immutable: a change yields a new value. Voters and learners are disjoint.
/// </summary>
public sealed class ClusterMembership : IEquatable<ClusterMembership>
{
    public static ClusterMembership Empty { get; } = new(ImmutableSortedSet<long>.Empty, ImmutableSortedSet<long>.Empty);

    public ClusterMembership(IEnumerable<long> voters, IEnumerable<long>? learners = null)
    {
        Voters = voters.ToImmutableSortedSet();
        Learners = (learners ?? []).ToImmutableSortedSet();
        if (Voters.Any(id => id <= 0) || Learners.Any(id => id <= 0)) throw new ArgumentException("Node ids must be positive.");
        if (Voters.Overlaps(Learners)) throw new ArgumentException("A node cannot be both voter and learner.");
    }

    public ImmutableSortedSet<long> Voters { get; }

    public ImmutableSortedSet<long> Learners { get; }

    public IEnumerable<long> Members => Voters.Concat(Learners);

    public bool IsVoter(long id) => Voters.Contains(id);

    public bool IsLearner(long id) => Learners.Contains(id);

    public bool Contains(long id) => IsVoter(id) || IsLearner(id);

    /// <summary>Why the change cannot apply to this membership, or null when it can.</summary>
    public string? Validate(MembershipChange change)
    {
        var id = change.NodeId;
        if (id <= 0) return "node id must be positive";
        return change.Kind switch
        {
            MembershipChangeKind.AddVoter when IsVoter(id) => $"{id} is already a voter",
            MembershipChangeKind.AddLearner when Contains(id) => $"{id} is already a member",
            MembershipChangeKind.PromoteLearner when !IsLearner(id) => $"{id} is not a learner",
            MembershipChangeKind.Remove when !Contains(id) => $"{id} is not a member",
            // A cluster without voters can never elect a leader again.
            MembershipChangeKind.Remove when IsVoter(id) && Voters.Count == 1 => "cannot remove the last voter",
            _ => null,
        };
    }

    public ClusterMembership Apply(MembershipChange change)
    {
        var problem = Validate(change);
        if (problem is not null) throw new InvalidOperationException($"Invalid membership change {change}: {problem}.");
        var id = change.NodeId;
        var result = change.Kind switch
        {
            MembershipChangeKind.AddVoter or MembershipChangeKind.PromoteLearner => new ClusterMembership(Voters.Add(id), Learners.Remove(id)),
            MembershipChangeKind.AddLearner => new ClusterMembership(Voters, Learners.Add(id)),
            MembershipChangeKind.Remove => new ClusterMembership(Voters.Remove(id), Learners.Remove(id)),
            _ => throw new UnreachableException(),
        };
        Debug.Assert(!result.Voters.Overlaps(result.Learners));
        return result;
    }

    public bool Equals(ClusterMembership? other) =>
        other is not null && Voters.SetEquals(other.Voters) && Learners.SetEquals(other.Learners);

    public override bool Equals(object? obj) => Equals(obj as ClusterMembership);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var v in Voters) hash.Add(v);
        hash.Add(-1L);
        foreach (var l in Learners) hash.Add(l);
        return hash.ToHashCode();
    }

    public override string ToString() => $"voters=[{string.Join(",", Voters)}] learners=[{string.Join(",", Learners)}]";
}
