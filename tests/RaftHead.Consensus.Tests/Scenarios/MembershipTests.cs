using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>Dissertation §4.1/4.2: single-server membership changes and learners.</summary>
public sealed class MembershipTests
{
    [Fact]
    public void A_new_server_joins_as_a_learner_catches_up_and_is_then_promoted()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Propose(1, "before");
        net.Stabilize();
        net.AddEmptyNode(4);

        Assert.True(net.ProposeChange(1, MembershipChangeKind.AddLearner, 4).Accepted);
        net.Stabilize();
        net.Tick(1);
        net.Stabilize();
        Assert.Equal(RaftRole.Learner, net.Node(4).Role);
        Assert.Equal(new[] { "before" }, net[4].Applied);
        Assert.True(net.Node(1).Membership.IsLearner(4));

        // A learner never campaigns.
        net.Tick(4, 100);
        Assert.Equal(RaftRole.Learner, net.Node(4).Role);

        Assert.True(net.ProposeChange(1, MembershipChangeKind.PromoteLearner, 4).Accepted);
        net.Stabilize();
        net.Tick(1);
        net.Stabilize();
        Assert.All(net.Peers, p => Assert.True(p.Node.Membership.IsVoter(4)));
        Assert.Equal(RaftRole.Follower, net.Node(4).Role);
    }

    [Fact]
    public void Only_one_change_may_be_in_flight()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.AddEmptyNode(4);
        net.AddEmptyNode(5);
        net.Isolate(2);
        net.Isolate(3);
        Assert.True(net.ProposeChange(1, MembershipChangeKind.AddLearner, 4).Accepted);
        Assert.Equal(ProposeStatus.MembershipChangeRejected, net.ProposeChange(1, MembershipChangeKind.AddLearner, 5).Status);

        net.Heal();
        net.Stabilize();
        net.Tick(1);
        net.Stabilize();
        Assert.True(net.ProposeChange(1, MembershipChangeKind.AddLearner, 5).Accepted);
    }

    [Fact]
    public void Invalid_changes_are_refused()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        Assert.Equal(ProposeStatus.MembershipChangeRejected, net.ProposeChange(1, MembershipChangeKind.PromoteLearner, 2).Status);
        Assert.Equal(ProposeStatus.MembershipChangeRejected, net.ProposeChange(1, MembershipChangeKind.Remove, 9).Status);
        Assert.Equal(ProposeStatus.MembershipChangeRejected, net.ProposeChange(1, MembershipChangeKind.AddVoter, 3).Status);
    }

    [Fact]
    public void After_removing_a_voter_the_remaining_majority_commits_without_it()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.ProposeChange(1, MembershipChangeKind.Remove, 3);
        net.Stabilize();
        net.Tick(1);
        net.Stabilize();
        Assert.Equal(new long[] { 1, 2 }, net.Node(1).Membership.Voters);

        net.Crash(3);
        net.Propose(1, "after");
        net.Stabilize();
        Assert.Equal(new[] { "after" }, net[2].Applied);
    }

    [Fact]
    public void A_leader_that_removes_itself_steps_down_and_the_rest_elect_a_new_leader()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.ProposeChange(1, MembershipChangeKind.Remove, 1);
        net.Stabilize();
        Assert.NotEqual(RaftRole.Leader, net.Node(1).Role);
        net.Crash(1);

        net.ElectLeader(2);
        Assert.True(net.Propose(2, "x").Accepted);
        net.Stabilize();
        Assert.Contains("x", net[3].Applied);
    }

    [Fact]
    public void A_restarted_node_recovers_the_membership_of_its_committed_changes()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.AddEmptyNode(4);
        net.ProposeChange(1, MembershipChangeKind.AddVoter, 4);
        net.Stabilize();
        net.Tick(1);
        net.Stabilize();

        net.Crash(2);
        net.Restart(2);
        Assert.True(net.Node(2).Membership.IsVoter(4));
    }
}
