using System.Diagnostics;

namespace RaftHead.Consensus.Quorum;

/// <summary>Majority arithmetic over a voter set, free of any Raft state so it can be tested exhaustively.</summary>
public static class MajorityQuorum
{
    private const int StackLimit = 64;

    public static int Size(int voterCount) => voterCount / 2 + 1;

    /// <summary>
    /// The largest index acknowledged by a majority: sort the voters' acknowledged indexes descending and take
    /// the one at position majority-1. An empty voter set commits nothing.
    /// </summary>
    public static long CommittedIndex(IReadOnlyCollection<long> voters, Func<long, long> acknowledgedIndex)
    {
        var n = voters.Count;
        if (n == 0) return 0;
        Span<long> indexes = n <= StackLimit ? stackalloc long[n] : new long[n];
        var i = 0;
        foreach (var id in voters) indexes[i++] = acknowledgedIndex(id);
        indexes.Sort();
        // Ascending order: the majority-th largest sits at n - majority.
        var result = indexes[n - Size(n)];
        Debug.Assert(result >= indexes[0] && result <= indexes[n - 1]);
        return result;
    }

    /// <summary>Tallies votes; <paramref name="voteOf"/> returns null for voters that have not answered.</summary>
    public static VoteResult Tally(IReadOnlyCollection<long> voters, Func<long, bool?> voteOf)
    {
        if (voters.Count == 0) return VoteResult.Won; // by convention, as in etcd: an empty config never blocks
        int granted = 0, rejected = 0;
        foreach (var id in voters)
        {
            switch (voteOf(id))
            {
                case true: granted++; break;
                case false: rejected++; break;
            }
        }
        var majority = Size(voters.Count);
        if (granted >= majority) return VoteResult.Won;
        if (granted + (voters.Count - granted - rejected) >= majority) return VoteResult.Pending;
        return VoteResult.Lost;
    }
}
