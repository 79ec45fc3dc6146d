using RaftHead.Consensus.Core;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>Dissertation §3.10: leadership transfer.</summary>
public sealed class LeadershipTransferTests
{
    [Fact]
    public void Leadership_moves_to_an_up_to_date_follower()
    {
        var net = new Network(3, c => c with { CheckQuorum = true });
        var term = net.ElectLeader(1);
        Assert.True(net.Node(1).TransferLeadership(2));
        net.Flush(1);
        net.Stabilize();

        Assert.Equal(RaftRole.Leader, net.Node(2).Role);
        Assert.Equal(term + 1, net.Node(2).Term);
        Assert.All(net.Peers, p => Assert.Equal(2, p.Node.Leader));
    }

    [Fact]
    public void The_leader_first_catches_a_lagging_target_up()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Isolate(3);
        for (var i = 0; i < 5; i++) net.Propose(1, $"v{i}");
        net.Stabilize();
        net.Heal();

        net.Node(1).TransferLeadership(3);
        net.Flush(1);
        net.Stabilize();
        Assert.Equal(RaftRole.Leader, net.Node(3).Role);
        Assert.Equal(5, net[3].Applied.Count);
    }

    [Fact]
    public void Proposals_are_refused_during_a_transfer_and_accepted_again_once_it_is_abandoned()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Isolate(3);
        net.Node(1).TransferLeadership(3);
        Assert.Equal(ProposeStatus.TransferInProgress, net.Propose(1, "x").Status);

        net.Tick(1, 10); // an election timeout without the target taking over
        Assert.Equal(0, net.Node(1).LeadTransferee);
        Assert.True(net.Propose(1, "x").Accepted);
    }
}
