using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Testing;
using Xunit.Abstractions;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// Three real drivers in one process, talking over real loopback gRPC streams, each on its own write-ahead log.
/// </summary>
[Collection(RealTimeCollection.Name)]
public sealed class InProcessClusterTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly ITestOutputHelper _output;
    private readonly ILoggerFactory _loggers;
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<long, NodeHostOptions> _options;
    private readonly Dictionary<long, RaftNodeHost> _hosts = new();

    public InProcessClusterTests(ITestOutputHelper output)
    {
        _output = output;
        _loggers = TestLoggerFactory.Create(output);
        _options = LoopbackCluster.Options(3, _dir.Path, o => o with { TickMs = 50, ElectionTicks = 10, SnapshotThresholdEntries = 25 });
    }

    public async Task InitializeAsync() => await Task.WhenAll(_options.Keys.Select(StartAsync));

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values) await host.DisposeAsync();
        _hosts.Clear();
        _loggers.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Elects_commits_reads_linearizably_on_followers_fails_over_and_restarts_from_its_log_and_a_snapshot()
    {
        var clock = Stopwatch.StartNew();
        var leader = await LeaderAsync();
        _output.WriteLine($"leader {leader.Id} elected after {clock.ElapsedMilliseconds} ms");

        // Commit: the result is the state machine's (the index the put was applied at), on every replica.
        for (var i = 0; i < 10; i++)
        {
            var result = await leader.Driver.ProposeAsync(KvStateMachine.Put($"k{i}", $"v{i}"), Cts().Token);
            Assert.True(long.Parse(Encoding.UTF8.GetString(result), System.Globalization.CultureInfo.InvariantCulture) > 0);
        }

        // A follower refuses proposals with a hint naming the leader and its address.
        var follower = _hosts.Values.First(h => h.Id != leader.Id);
        var refused = await Assert.ThrowsAsync<NotLeaderException>(() => follower.Driver.ProposeAsync(KvStateMachine.Put("x", "y"), Cts().Token));
        Assert.Equal(leader.Id, refused.LeaderId);
        Assert.Equal(_options[leader.Id].Members[leader.Id], refused.LeaderAddress);
        Assert.False(refused.MayHaveCommitted);

        // Linearizable reads on a follower: a write acknowledged by the leader is visible right after ReadAsync.
        for (var i = 0; i < 20; i++)
        {
            await leader.Driver.ProposeAsync(KvStateMachine.Put("counter", i.ToString(System.Globalization.CultureInfo.InvariantCulture)), Cts().Token);
            await follower.Driver.ReadAsync(Cts().Token);
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), follower.Store.Get("counter"));
        }

        // Concurrent reads share ReadIndex rounds; all complete.
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => follower.Driver.ReadAsync(Cts().Token)));

        // Stop the leader: the other two elect a new one, which commits.
        var oldLeader = leader.Id;
        var oldTerm = leader.Driver.Status.Term;
        await StopAsync(oldLeader);
        clock.Restart();
        var newLeader = await LeaderAsync(except: oldLeader);
        await newLeader.Driver.ProposeAsync(KvStateMachine.Put("after-failover", "yes"), Cts().Token);
        _output.WriteLine($"after stopping leader {oldLeader}: leader {newLeader.Id} committed in {clock.ElapsedMilliseconds} ms");
        Assert.True(newLeader.Driver.Status.Term > oldTerm);

        // Restart the stopped node from its write-ahead log: it catches up on the entries it missed.
        await StartAsync(oldLeader);
        await CaughtUpAsync(_hosts[oldLeader], newLeader);
        Assert.Equal("yes", _hosts[oldLeader].Store.Get("after-failover"));

        // Stop a follower, write past the snapshot threshold so the leader compacts beyond its log, restart it:
        // it can only catch up through a snapshot, sent in chunks.
        var lagging = _hosts.Values.First(h => h.Id != newLeader.Id).Id;
        var laggingLast = _hosts[lagging].Driver.Status.LastIndex;
        await StopAsync(lagging);
        for (var i = 0; i < 60; i++)
        {
            await newLeader.Driver.ProposeAsync(KvStateMachine.Put($"bulk{i}", new string('x', 40) + i), Cts().Token);
        }
        Assert.True(newLeader.Driver.Status.SnapshotIndex > laggingLast, $"leader snapshot {newLeader.Driver.Status.SnapshotIndex} should pass the lagging node's last index {laggingLast}");
        await StartAsync(lagging);
        await CaughtUpAsync(_hosts[lagging], newLeader);
        Assert.True(_hosts[lagging].Driver.Status.SnapshotsInstalled >= 1, "the lagging node should have installed a snapshot");
        Assert.Equal(newLeader.Store.Copy(), _hosts[lagging].Store.Copy());

        // And it serves linearizable reads again.
        await newLeader.Driver.ProposeAsync(KvStateMachine.Put("last", "1"), Cts().Token);
        await _hosts[lagging].Driver.ReadAsync(Cts().Token);
        Assert.Equal("1", _hosts[lagging].Store.Get("last"));
    }

    [Fact]
    public async Task Leadership_transfer_and_membership_changes_pass_through_the_driver()
    {
        var leader = await LeaderAsync();
        var target = _hosts.Values.First(h => h.Id != leader.Id);
        Assert.True(await leader.Driver.TransferLeadershipAsync(target.Id, Cts().Token));
        await Eventually.WaitUntilAsync(() => target.Driver.Status.IsLeader, Timeout, $"node {target.Id} to lead after the transfer");
        await target.Driver.ProposeAsync(KvStateMachine.Put("moved", "1"), Cts().Token);

        // Add a learner that does not exist yet: the change commits with the three voters alone.
        var membership = await target.Driver.ChangeMembershipAsync(new Membership.MembershipChange(Membership.MembershipChangeKind.AddLearner, 9), Cts().Token);
        Assert.Contains(9L, membership.Learners);
        membership = await target.Driver.ChangeMembershipAsync(new Membership.MembershipChange(Membership.MembershipChangeKind.Remove, 9), Cts().Token);
        Assert.DoesNotContain(9L, membership.Members);
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            target.Driver.ChangeMembershipAsync(new Membership.MembershipChange(Membership.MembershipChangeKind.Remove, 42), Cts().Token));
    }

    private static CancellationTokenSource Cts() => new(Timeout);

    private async Task StartAsync(long id) => _hosts[id] = await RaftNodeHost.StartAsync(_options[id], _loggers, CancellationToken.None);

    private async Task StopAsync(long id)
    {
        await _hosts[id].DisposeAsync();
        _hosts.Remove(id);
    }

    /// <summary>A leader that every running node agrees on.</summary>
    private Task<RaftNodeHost> LeaderAsync(long except = 0) =>
        Eventually.WaitAsync(
            () =>
            {
                var leaders = _hosts.Values.Where(h => h.Id != except && h.Driver.Status.Role == RaftRole.Leader).ToList();
                if (leaders.Count != 1) return null;
                var leader = leaders[0];
                var term = leader.Driver.Status.Term;
                return _hosts.Values.All(h => h.Driver.Status.Leader == leader.Id && h.Driver.Status.Term == term) ? leader : null;
            },
            Timeout,
            "a leader all running nodes agree on");

    private static Task CaughtUpAsync(RaftNodeHost node, RaftNodeHost leader) =>
        Eventually.WaitUntilAsync(
            () => node.Driver.Status.AppliedIndex >= leader.Driver.Status.CommitIndex && node.Driver.Status.Leader == leader.Id,
            Timeout,
            $"node {node.Id} to catch up with leader {leader.Id}");
}
