using RaftHead.Consensus.Quorum;

namespace RaftHead.Consensus.Tests.Units;

public sealed class QuorumTests
{
    [Theory]
    [InlineData(new long[] { 5 }, 5)]
    [InlineData(new long[] { 5, 3 }, 3)]
    [InlineData(new long[] { 5, 3, 1 }, 3)]
    [InlineData(new long[] { 9, 5, 3, 1 }, 3)]
    [InlineData(new long[] { 9, 8, 5, 3, 1 }, 5)]
    public void The_committed_index_is_the_highest_index_held_by_a_majority(long[] matches, long expected)
    {
        var voters = Enumerable.Range(1, matches.Length).Select(i => (long)i).ToList();
        Assert.Equal(expected, MajorityQuorum.CommittedIndex(voters, id => matches[id - 1]));
    }

    [Fact]
    public void Votes_are_pending_until_a_majority_either_way()
    {
        long[] voters = [1, 2, 3, 4, 5];
        Assert.Equal(VoteResult.Pending, MajorityQuorum.Tally(voters, id => id <= 2 ? true : null));
        Assert.Equal(VoteResult.Won, MajorityQuorum.Tally(voters, id => id <= 3 ? true : null));
        Assert.Equal(VoteResult.Lost, MajorityQuorum.Tally(voters, id => id <= 2 ? true : false));
        Assert.Equal(VoteResult.Pending, MajorityQuorum.Tally(voters, id => id <= 2 ? false : null));
    }
}
