using RaftHead.Consensus.Core;
using RaftHead.Consensus.Tests.Harness;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>Raft paper §5.4: the election restriction and committing entries from previous terms (Figure 8).</summary>
public sealed class SafetyTests
{
    [Fact]
    public void A_candidate_with_a_stale_log_cannot_win()
    {
        var net = new Network(3);
        net.ElectLeader(1);
        net.Isolate(3);
        net.Propose(1, "x");
        net.Stabilize();
        net.Heal();
        net.Isolate(1);

        // 3 lacks "x"; 2 has it and refuses to vote for 3 (§5.4.1), so 3 never leads.
        for (var i = 0; i < 5; i++) net.Campaign(3);
        Assert.NotEqual(RaftRole.Leader, net.Node(3).Role);

        net.ElectLeader(2);
        Assert.Contains("x", net[2].Applied);
    }

    /// <summary>
    /// Figure 8: an entry from an earlier term stored on a majority is still not committed by counting
    /// replicas, because a server with a later-term entry can win and overwrite it.
    /// </summary>
    [Fact]
    public void Figure8_an_old_term_entry_on_a_majority_is_not_committed_until_the_leader_commits_its_own_term()
    {
        var net = new Network(5);
        net.ElectLeader(1);
        net.Stabilize();

        // (a) S1 replicates "x" to S2 only.
        net.Isolate(3);
        net.Isolate(4);
        net.Isolate(5);
        var x = net.Propose(1, "x");
        net.Stabilize();
        Assert.Equal(net.Node(1).Log.LastIndex, x.Index);

        // (b) S1 goes down; S5 wins with S3 and S4 and appends entries nobody else receives.
        net.Crash(1);
        net.Heal();
        net.Isolate(2);
        net.DropIf = m => m.From == 5 && m.Type == MessageType.Append;
        net.ElectLeader(5);
        net.Propose(5, "y");
        net.Stabilize();
        net.Crash(5);

        // (c) S1 returns and leads again; it copies "x" to S3 (a majority now holds it) but its own term's
        // no-op does not get through. Counting replicas must not commit "x".
        net.DropIf = null;
        net.Intercept = m => m.From == 1 && m.Type == MessageType.Append ? m with { Entries = m.Entries.Where(e => e.Index <= x.Index).ToList() } : m;
        net.Heal();
        net.Isolate(4);
        net.Restart(1);
        net.ElectLeader(1);
        Assert.Equal(x.Term, net.Node(2).Log.TermOrZero(x.Index));
        Assert.Equal(x.Term, net.Node(3).Log.TermOrZero(x.Index));
        Assert.Equal(x.Index, net.Node(1).ProgressOf(3)!.Match);
        Assert.True(net.Node(1).Log.Committed < x.Index, "an old-term entry must not be committed by counting replicas");

        // (d) S1 crashes; S5's later-term log wins the votes of S2, S3 and S4 and overwrites x's index.
        net.Crash(1);
        net.Intercept = null;
        net.Heal();
        net.Restart(5);
        net.ElectLeader(5);
        net.Stabilize();

        foreach (var id in new long[] { 2, 3, 4, 5 })
        {
            Assert.DoesNotContain("x", net[id].Applied);
            Assert.Contains("y", net[id].Applied);
            Assert.NotEqual(x.Term, net.Node(id).Log.TermOrZero(x.Index));
        }
    }

    [Fact]
    public void Figure8_once_the_leader_commits_an_entry_of_its_term_the_old_entry_is_committed_too()
    {
        var net = new Network(5);
        net.ElectLeader(1);
        net.Isolate(3);
        net.Isolate(4);
        net.Isolate(5);
        net.Propose(1, "x");
        net.Stabilize();
        net.Heal();
        net.Crash(1);
        net.Restart(1);
        net.Isolate(4);
        net.Isolate(5);
        net.ElectLeader(1); // its no-op of the new term reaches S2 and S3 and commits "x" with it

        Assert.All(new long[] { 1, 2, 3 }, id => Assert.Equal(new[] { "x" }, net[id].Applied));
        net.Crash(1);
        net.Heal();
        // S5 can no longer win: S2, S3 hold a later-term entry than S5.
        for (var i = 0; i < 3; i++) net.Campaign(5);
        Assert.NotEqual(RaftRole.Leader, net.Node(5).Role);
    }
}
