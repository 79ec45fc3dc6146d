using RaftHead.Consensus.Core;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>Raft paper §5.2: leader election.</summary>
public sealed class LeaderElectionTests
{
    [Fact]
    public void A_single_voter_elects_itself_on_its_first_timeout()
    {
        var net = new Network(1);
        net.Campaign(1);
        Assert.Equal(RaftRole.Leader, net.Node(1).Role);
        Assert.Equal(Consensus.Log.LogBootstrap.BootstrapTerm + 1, net.Node(1).Term);
    }

    [Fact]
    public void A_follower_that_times_out_wins_and_everyone_learns_the_leader()
    {
        var net = new Network(3);
        net.ElectLeader(1);

        Assert.Equal(RaftRole.Leader, net.Node(1).Role);
        foreach (var id in new long[] { 2, 3 })
        {
            Assert.Equal(RaftRole.Follower, net.Node(id).Role);
            Assert.Equal(1, net.Node(id).Leader);
            Assert.Equal(net.Node(1).Term, net.Node(id).Term);
        }
        // The new leader's no-op (after the three bootstrap entries) is committed everywhere.
        Assert.All(net.Peers, p => Assert.Equal(4, p.Node.Log.Committed));
    }

    [Fact]
    public void A_voter_grants_at_most_one_vote_per_term()
    {
        var net = new Network(3, c => c with { PreVote = false });
        var voter = net.Node(3);
        voter.Step(new Message { Type = MessageType.Vote, From = 1, To = 3, Term = 2, Index = 3, LogTerm = 1 });
        voter.Step(new Message { Type = MessageType.Vote, From = 2, To = 3, Term = 2, Index = 3, LogTerm = 1 });
        var replies = voter.GetReady().Messages;

        Assert.Equal(2, replies.Count);
        Assert.False(replies[0].Reject);
        Assert.True(replies[1].Reject);
        Assert.Equal(1, voter.Vote);
    }

    [Fact]
    public void A_split_vote_elects_nobody_and_a_later_term_resolves_it()
    {
        var net = new Network(4, c => c with { PreVote = false, CheckQuorum = false });
        // 3 hears only from 1, 4 only from 2: each candidate gets two of four votes.
        net.Cut(1, 4);
        net.Cut(2, 3);
        for (var i = 0; i < 40 && !(net.Node(1).Role == RaftRole.Candidate && net.Node(2).Role == RaftRole.Candidate); i++)
        {
            if (net.Node(1).Role != RaftRole.Candidate) net.Tick(1);
            if (net.Node(2).Role != RaftRole.Candidate) net.Tick(2);
        }
        net.Stabilize();

        Assert.Equal(RaftRole.Candidate, net.Node(1).Role);
        Assert.Equal(RaftRole.Candidate, net.Node(2).Role);
        Assert.DoesNotContain(net.Peers, p => p.Node.Role == RaftRole.Leader);

        net.Heal();
        var term = net.ElectLeader(1);
        Assert.True(term > 2);
        Assert.All(net.Peers, p => Assert.Equal(1, p.Node.Leader));
    }

    [Fact]
    public void A_candidate_returns_to_follower_when_a_leader_of_its_term_appears()
    {
        var net = new Network(3, c => c with { PreVote = false });
        net.Isolate(3);
        net.Tick(3, 30);
        Assert.Equal(RaftRole.Candidate, net.Node(3).Role);
        var term = net.Node(3).Term;

        net.Node(3).Step(new Message { Type = MessageType.Append, From = 1, To = 3, Term = term, Index = 0, LogTerm = 0 });
        Assert.Equal(RaftRole.Follower, net.Node(3).Role);
        Assert.Equal(1, net.Node(3).Leader);
    }
}
