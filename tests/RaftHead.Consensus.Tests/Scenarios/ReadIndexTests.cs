using System.Text;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>Dissertation §6.4: linearizable reads through ReadIndex.</summary>
public sealed class ReadIndexTests
{
    [Fact]
    public void The_leader_answers_a_read_only_after_a_heartbeat_round_confirms_it_still_leads()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Propose(1, "a");
        net.Stabilize();

        Assert.True(net.ReadIndex(1, "r1"));
        Assert.Empty(net[1].ReadStates); // not before a majority answered
        net.Stabilize();

        var read = Assert.Single(net[1].ReadStates);
        Assert.Equal("r1", Encoding.UTF8.GetString(read.Context.Span));
        Assert.Equal(net.Node(1).Log.Committed, read.Index);
    }

    [Fact]
    public void A_follower_forwards_the_read_to_the_leader_and_gets_the_leaders_commit_index()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Propose(1, "a");
        net.Stabilize();

        Assert.True(net.ReadIndex(2, "r2"));
        net.Stabilize();
        var read = Assert.Single(net[2].ReadStates);
        Assert.Equal(net.Node(1).Log.Committed, read.Index);
        Assert.Empty(net[1].ReadStates);
    }

    [Fact]
    public void A_leader_cut_off_from_the_majority_never_confirms_a_read()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Isolate(1);
        Assert.True(net.ReadIndex(1, "stale?"));
        for (var i = 0; i < 5; i++)
        {
            net.Tick(1);
            net.Stabilize();
        }
        Assert.Empty(net[1].ReadStates);
    }

    [Fact]
    public void A_node_without_a_leader_refuses_the_read()
    {
        var net = new Network(3);
        Assert.False(net.ReadIndex(2, "r"));
    }

    [Fact]
    public void A_read_lost_with_its_heartbeat_is_confirmed_by_a_later_heartbeat()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.DropIf = m => m.Type == Core.MessageType.Heartbeat;
        net.ReadIndex(1, "r");
        net.Stabilize();
        Assert.Empty(net[1].ReadStates);
        net.DropIf = null;
        net.Tick(1);
        net.Stabilize();
        Assert.Single(net[1].ReadStates);
    }
}
