using RaftHead.Consensus.Core;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>Dissertation §9.6 (pre-vote) and §6.2 (check-quorum and the leader lease).</summary>
public sealed class PreVoteAndCheckQuorumTests
{
    [Fact]
    public void A_partitioned_node_does_not_raise_its_term_and_does_not_disrupt_on_rejoining()
    {
        var net = new Network(3, c => c with { CheckQuorum = true });
        var term = net.ElectLeader(1);
        net.Isolate(3);
        net.Tick(3, 100); // it pre-campaigns again and again, alone
        Assert.Equal(term, net.Node(3).Term);
        Assert.Equal(RaftRole.PreCandidate, net.Node(3).Role);

        net.Heal();
        for (var i = 0; i < 30; i++)
        {
            net.TickAll();
            net.Stabilize();
        }
        Assert.Equal(RaftRole.Leader, net.Node(1).Role);
        Assert.All(net.Peers, p => Assert.Equal(term, p.Node.Term));
    }

    [Fact]
    public void Without_pre_vote_the_same_partitioned_node_deposes_a_healthy_leader()
    {
        var net = new Network(3, c => c with { PreVote = false, CheckQuorum = false });
        var term = net.ElectLeader(1);
        net.Isolate(3);
        net.Tick(3, 100);
        Assert.True(net.Node(3).Term > term);

        net.Heal();
        net.Tick(3, 20); // its next timeout sends a vote request of a higher term
        net.Stabilize();
        Assert.True(net.Node(1).Term > term);
        Assert.NotEqual(RaftRole.Leader, net.Node(1).Role); // the contrast that motivates pre-vote
    }

    [Fact]
    public void A_pre_candidate_with_a_stale_log_is_refused_even_if_its_term_is_higher()
    {
        var net = new Network(3, c => c with { CheckQuorum = false });
        net.ElectLeader(1);
        net.Isolate(3);
        net.Propose(1, "x");
        net.Stabilize();
        net.Heal();
        net.Isolate(1);
        net.Campaign(3);
        Assert.NotEqual(RaftRole.Leader, net.Node(3).Role);
        Assert.NotEqual(RaftRole.Candidate, net.Node(3).Role);
    }

    [Fact]
    public void A_leader_that_cannot_hear_a_majority_steps_down_within_an_election_timeout()
    {
        var net = new Network(3, c => c with { CheckQuorum = true });
        net.ElectLeader(1);
        net.Isolate(1);
        net.Tick(1, 2 * 10);
        Assert.Equal(RaftRole.Follower, net.Node(1).Role);
        Assert.Equal(0, net.Node(1).Leader);
    }

    [Fact]
    public void A_leader_that_hears_its_followers_keeps_leading()
    {
        var net = new Network(3, c => c with { CheckQuorum = true });
        net.ElectLeader(1);
        for (var i = 0; i < 50; i++)
        {
            net.Tick(1);
            net.Stabilize();
        }
        Assert.Equal(RaftRole.Leader, net.Node(1).Role);
    }

    [Fact]
    public void A_follower_in_its_leaders_lease_ignores_a_higher_term_vote_request()
    {
        var net = new Network(3, c => c with { CheckQuorum = true, PreVote = false });
        var term = net.ElectLeader(1);
        var follower = net.Node(2);
        follower.Step(new Message { Type = MessageType.Vote, From = 3, To = 2, Term = term + 5, Index = 100, LogTerm = term + 4 });
        Assert.Equal(term, follower.Term);
        Assert.Equal(1, follower.Leader);
    }
}
