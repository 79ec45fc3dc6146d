using System.Diagnostics;
using RaftHead.Testing;
using Xunit.Abstractions;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// Three Raft nodes as three real processes on loopback, each with its own write-ahead log. The leader is
/// killed with SIGKILL; a new leader must commit a write within two election timeouts; the killed node restarts
/// from its log and catches up through a snapshot (the leader compacted past it meanwhile).
/// </summary>
[Collection(RealTimeCollection.Name)]
public sealed class ProcessClusterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private readonly ITestOutputHelper _output;

    public ProcessClusterTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Killing_the_leader_process_elects_a_new_leader_that_commits_within_two_election_timeouts_and_the_killed_node_catches_up()
    {
        using var dir = new TempDirectory();
        var options = LoopbackCluster.Options(3, dir.Path, o => o with { SnapshotThresholdEntries = 20 });
        var members = options[1].Members;
        var nodes = new Dictionary<long, NodeProcess>();
        using var client = new ControlClient(members);
        var passed = false;
        try
        {
            foreach (var id in members.Keys) nodes[id] = NodeProcess.Start(options[id]);
            foreach (var node in nodes.Values) await node.WaitReadyAsync(Timeout);
            _output.WriteLine($"node PIDs: {string.Join(", ", nodes.Select(n => $"{n.Key}={n.Value.Pid}"))}");

            var leader = await Eventually.WaitAsync(() => client.LeaderAsync(members.Keys), Timeout, "a first leader");
            _output.WriteLine($"leader {leader.NodeId} at term {leader.Term}");
            for (var i = 0; i < 10; i++) await client.PutAsync(leader.NodeId, $"k{i}", $"v{i}", Timeout);
            var follower = members.Keys.First(id => id != leader.NodeId);
            Assert.Equal("v9", await client.GetAsync(follower, "k9", Timeout));

            // kill -9 the leader and time how long until a new leader has committed a write.
            var killed = leader.NodeId;
            var survivors = members.Keys.Where(id => id != killed).ToList();
            var clock = Stopwatch.StartNew();
            await nodes[killed].KillAsync();
            var newLeader = await Eventually.WaitAsync(
                async () =>
                {
                    var candidate = await client.LeaderAsync(survivors, aboveTerm: leader.Term);
                    if (candidate is null) return null;
                    await client.PutAsync(candidate.NodeId, "failover", "done", TimeSpan.FromMilliseconds(500));
                    return candidate;
                },
                Timeout,
                "a new leader to commit a write");
            var failover = clock.Elapsed;
            var electionTimeout = TimeSpan.FromMilliseconds(options[killed].ElectionTimeoutMs);
            // A follower's timeout is drawn from [E, 2E): "two election timeouts" is two of the longest one.
            var bound = 2 * (2 * electionTimeout);
            _output.WriteLine(
                $"FAILOVER: node {newLeader.NodeId} (term {newLeader.Term}) committed a write {failover.TotalMilliseconds:0} ms after SIGKILL of leader {killed}; " +
                $"election timeout {electionTimeout.TotalMilliseconds:0} ms base, randomized up to {2 * electionTimeout.TotalMilliseconds:0} ms; bound {bound.TotalMilliseconds:0} ms");
            Assert.True(failover < bound, $"failover took {failover.TotalMilliseconds:0} ms, bound {bound.TotalMilliseconds:0} ms");

            // Write past the snapshot threshold so the leader's log no longer holds what the killed node lacks.
            var lastBeforeBulk = (await Eventually.WaitAsync(() => client.StatusAsync(newLeader.NodeId), Timeout, "leader status")).CommitIndex;
            for (var i = 0; i < 60; i++) await client.PutAsync(newLeader.NodeId, $"bulk{i}", new string('x', 50) + i, Timeout);
            var leaderStatus = (await client.StatusAsync(newLeader.NodeId))!;
            Assert.True(leaderStatus.SnapshotIndex > lastBeforeBulk, $"leader snapshot {leaderStatus.SnapshotIndex} should pass {lastBeforeBulk}");

            // Restart the killed node on its data directory: it recovers its log and catches up via a snapshot.
            clock.Restart();
            nodes[killed] = NodeProcess.Start(options[killed]);
            await nodes[killed].WaitReadyAsync(Timeout);
            var target = (await client.StatusAsync(newLeader.NodeId))!.CommitIndex;
            var caughtUp = await Eventually.WaitAsync(
                async () => await client.StatusAsync(killed) is { } s && s.AppliedIndex >= target && s.Leader == newLeader.NodeId ? s : null,
                Timeout,
                $"node {killed} to catch up to {target}");
            _output.WriteLine($"node {killed} restarted and caught up to {caughtUp.AppliedIndex} in {clock.ElapsedMilliseconds} ms ({caughtUp.SnapshotsInstalled} snapshot(s) installed)");
            Assert.True(caughtUp.SnapshotsInstalled >= 1, "the restarted node should have caught up through a snapshot");
            Assert.Equal(new string('x', 50) + 59, await client.GetAsync(killed, "bulk59", Timeout));
            Assert.Equal("done", await client.GetAsync(killed, "failover", Timeout));
            passed = true;
        }
        finally
        {
            foreach (var (id, node) in nodes)
            {
                node.Dispose();
                if (!passed) _output.WriteLine($"---- node {id} log ----{Environment.NewLine}{node.LogTail()}");
            }
        }
    }
}
