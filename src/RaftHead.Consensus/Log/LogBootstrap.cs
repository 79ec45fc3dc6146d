using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Log;

/// <summary>
/// The initial membership of a new cluster, written as committed membership-change entries at term 1 in every
/// founding member's log. Keeping it in the log (rather than out of band) means a server added later learns
/// the founding members by replaying the log like any other change.
/// </summary>
public static class LogBootstrap
{
    public const long BootstrapTerm = 1;

    public static IReadOnlyList<LogEntry> Entries(ClusterMembership membership)
    {
        ArgumentNullException.ThrowIfNull(membership);
        if (membership.Voters.Count == 0) throw new ArgumentException("A cluster needs at least one voter.", nameof(membership));
        var changes = membership.Voters.Select(v => new MembershipChange(MembershipChangeKind.AddVoter, v))
            .Concat(membership.Learners.Select(l => new MembershipChange(MembershipChangeKind.AddLearner, l)));
        return changes.Select((c, i) => new LogEntry(BootstrapTerm, i + 1, EntryType.MembershipChange, c.Encode())).ToList();
    }

    public static HardState HardState(ClusterMembership membership) =>
        new(BootstrapTerm, 0, membership.Voters.Count + membership.Learners.Count);
}
