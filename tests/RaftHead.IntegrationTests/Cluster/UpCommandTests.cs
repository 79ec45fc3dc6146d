using System.Globalization;
using RaftHead.Protocol.Client;
using RaftHead.Testing;

namespace RaftHead.IntegrationTests.Cluster;

/// <summary><c>rh up</c> end to end: it comes up, reports itself, brings back a head killed with SIGKILL, and stops everything on SIGTERM.</summary>
[Collection(RhUpCluster.Collection)]
public sealed class UpCommandTests
{
    [Fact(Timeout = 170_000)]
    public async Task Rh_up_restarts_a_killed_leader_keeps_executing_and_leaves_no_child_behind_on_sigterm()
    {
        using var temp = new TempDirectory();
        var runLog = LeaderKillTests.RunLogIn(temp);
        await using var cluster = await RhUpCluster.StartAsync(temp.Path, workers: 2, slots: 1);
        var first = cluster.Endpoint(1);

        // Bounded wait: a head busy with start-up on a loaded machine may miss one two-second ask.
        var status = await cluster.StatusAsync(first, waitSeconds: 30);
        Assert.True(status.Result.Succeeded, status.ToString());
        Assert.Equal(3, status.Members.Count);
        Assert.All(status.Members, m => Assert.True(m.Up && m.Pid is > 0, $"head {m.Id} does not answer: {status}"));
        Assert.Equal(2, status.Workers);
        Assert.NotNull(status.Leader);

        var fromLine = cluster.Up.LineCount;
        var (killed, pid) = await cluster.KillLeaderAsync();
        var (restarted, _) = await cluster.Up.WaitForLineAsync(
            l => l.StartsWith($"head-{killed} | restarted (pid ", StringComparison.Ordinal), TimeSpan.FromSeconds(60), fromLine);
        Assert.DoesNotContain($"(pid {pid})", restarted, StringComparison.Ordinal);

        var recovered = await cluster.StatusAsync(first, waitSeconds: 30);
        Assert.True(recovered.Result.Succeeded, recovered.ToString());
        Assert.All(recovered.Members, m => Assert.True(m.Up, $"head {m.Id} does not answer after the restart: {recovered}"));
        var follower = recovered.Members.First(m => m.Role == "follower");

        using var channels = new GrpcChannels();
        var load = new ActionLoad([follower.Address], runLog, channels);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var outcome = Assert.Single(await load.RunAsync(1, 1, cts.Token));
        Assert.Equal(0, outcome.Response.Result.ExitCode);
        Assert.Equal("out.txt", Assert.Single(outcome.Response.Result.OutputFiles).Path);
        Assert.Equal(["0"], File.ReadAllLines(runLog));

        var children = RhUpCluster.ChildrenOf(cluster.Up.ProcessId);
        Assert.Equal(5, children.Count);
        cluster.Up.Terminate();
        Assert.Equal(0, await cluster.Up.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var alive = children.Where(PosixSignals.IsRunning).ToList();
        Assert.True(alive.Count == 0, $"still running after rh up exited: {string.Join(',', alive.Select(p => p.ToString(CultureInfo.InvariantCulture)))}\n{cluster.Up.Log}");
    }
}
