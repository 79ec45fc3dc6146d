using RaftHead.Consensus.Core;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>Raft paper §5.3: log replication and repair of inconsistent followers.</summary>
public sealed class LogReplicationTests
{
    [Fact]
    public void Proposals_are_committed_and_applied_in_order_on_every_node()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        foreach (var v in new[] { "a", "b", "c" }) Assert.True(net.Propose(1, v).Accepted);
        net.Stabilize();

        Assert.All(net.Peers, p => Assert.Equal(new[] { "a", "b", "c" }, p.Applied));
    }

    [Fact]
    public void A_follower_refuses_proposals_and_names_the_leader()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        var result = net.Propose(2, "x");
        Assert.Equal(ProposeStatus.NotLeader, result.Status);
        Assert.Equal(1, result.LeaderHint);
    }

    [Fact]
    public void An_entry_commits_only_once_a_majority_stores_it()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Isolate(2);
        net.Isolate(3);
        var x = net.Propose(1, "x");
        net.Stabilize();
        Assert.True(net.Node(1).Log.Committed < x.Index);
        Assert.Empty(net[1].Applied);

        net.Heal();
        net.TickAll();
        net.Stabilize();
        Assert.All(net.Peers, p => Assert.Equal(new[] { "x" }, p.Applied));
    }

    [Fact]
    public void A_follower_that_missed_entries_is_caught_up()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Isolate(3);
        for (var i = 0; i < 20; i++) net.Propose(1, $"v{i}");
        net.Stabilize();
        Assert.Empty(net[3].Applied);

        net.Heal();
        net.Tick(1); // heartbeat; its answer reveals the gap
        net.Stabilize();
        Assert.Equal(net[1].Applied, net[3].Applied);
        Assert.Equal(20, net[3].Applied.Count);
    }

    [Fact]
    public void A_deposed_leaders_uncommitted_suffix_is_overwritten_by_the_new_leader()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Propose(1, "committed");
        net.Stabilize();

        net.Isolate(1);
        net.Propose(1, "lost-1");
        net.Propose(1, "lost-2");
        net.Stabilize();
        net.ElectLeader(2);
        net.Propose(2, "kept");
        net.Stabilize();

        net.Heal();
        net.Tick(2);
        net.Stabilize();

        Assert.Equal(RaftRole.Follower, net.Node(1).Role);
        Assert.All(net.Peers, p => Assert.Equal(new[] { "committed", "kept" }, p.Applied));
        var leaderLog = net.Node(2).Log;
        var oldLog = net.Node(1).Log;
        Assert.Equal(leaderLog.LastIndex, oldLog.LastIndex);
        for (var i = 1; i <= leaderLog.LastIndex; i++) Assert.Equal(leaderLog.TermOrZero(i), oldLog.TermOrZero(i));
    }

    [Fact]
    public void A_leader_that_cannot_commit_pushes_back_once_the_uncommitted_bound_is_reached()
    {
        var net = new Network(3, c => c with { MaxUncommittedEntries = 3 });
        net.ElectLeader(1);
        net.Isolate(2);
        net.Isolate(3);
        for (var i = 0; i < 3; i++) Assert.True(net.Propose(1, $"v{i}").Accepted);
        Assert.Equal(ProposeStatus.Overloaded, net.Propose(1, "one too many").Status);
    }

    [Fact]
    public void Appends_are_batched_and_the_in_flight_window_is_bounded()
    {
        var net = new Network(2, c => c with { MaxEntriesPerMessage = 3, MaxInflightMessages = 2 });
        net.ElectLeader(1);
        Assert.Equal(Replication.ProgressState.Replicate, net.Node(1).ProgressOf(2)!.State);

        for (var i = 0; i < 12; i++) net.Propose(1, $"v{i}");
        var appends = net.InFlight.Where(m => m.Type == MessageType.Append && m.Entries.Count > 0).ToList();
        Assert.Equal(2, appends.Count); // the window is full after two messages
        Assert.True(net.Node(1).ProgressOf(2)!.IsPaused);

        net.Stabilize();
        Assert.Equal(12, net[2].Applied.Count);
        var sizes = net.Transcript.Where(t => t.StartsWith("Append 1->2", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(sizes);
        Assert.DoesNotContain(sizes, s => s.Contains(" n4", StringComparison.Ordinal) || s.Contains(" n5", StringComparison.Ordinal));
    }
}
