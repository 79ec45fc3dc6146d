using System.Text.Json;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Head.Admin;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Tests;

/// <summary>
/// <c>rh status</c> against two heads that answer (leader 2, follower 1) and a third member that does not: the
/// command, pointed at the follower alone, finds the others through the members it reports.
/// </summary>
public sealed class StatusCommandTests : IAsyncLifetime
{
    private FakeHead _leader = null!;
    private FakeHead _follower = null!;
    private string _downAddress = "";

    private string LeaderAddress => _leader.Address;

    private string FollowerAddress => _follower.Address;

    public async Task InitializeAsync()
    {
        _downAddress = $"127.0.0.1:{FakeHead.FreePort()}";
        _leader = await StartAsync(() => Status(2, NodeRole.Leader, LeaderAddress, applied: 120, last: 125));
        _follower = await StartAsync(() => Status(1, NodeRole.Follower, FollowerAddress, applied: 100, last: 118));
    }

    public async Task DisposeAsync()
    {
        await _leader.DisposeAsync();
        await _follower.DisposeAsync();
    }

    [Fact]
    public async Task Text_names_the_leader_the_lag_of_each_member_and_a_member_that_is_down()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("status", "--heads", FollowerAddress);

        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n');
        Assert.StartsWith($"leader 2 at {LeaderAddress}, term 9", lines[0]);
        var follower = Assert.Single(lines, l => l.StartsWith("1 ", StringComparison.Ordinal));
        // Lag is the leader's last index (125) less what the member applied (100).
        Assert.Equal(["1", FollowerAddress, "follower", "1001", "102", "100", "25"], Fields(follower)[..7]);
        var leader = Assert.Single(lines, l => l.StartsWith("2 ", StringComparison.Ordinal));
        Assert.Equal(["2", LeaderAddress, "leader", "1002", "122", "120", "5"], Fields(leader)[..7]);
        var down = Assert.Single(lines, l => l.StartsWith("3 ", StringComparison.Ordinal));
        Assert.Equal(["3", _downAddress, "down"], Fields(down)[..3]);
        // Workers and queues come from the leader's answer (no heartbeat interval given: an age alone is not silence).
        Assert.Contains(lines, l => Fields(l) is ["worker-a", "ok", "3/4", "-", "-", "0", "1.5s", "ago", "OSFamily=linux"]);
        Assert.Contains(lines, l => Fields(l) is ["-1", "7", "OSFamily=linux"]);
        Assert.Contains("queued 7, leased 3", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_is_one_object_with_the_leader_and_every_member()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("status", "--json", "--heads", LeaderAddress);

        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal(2, root.GetProperty("leader").GetProperty("id").GetInt64());
        Assert.Equal(LeaderAddress, root.GetProperty("leader").GetProperty("address").GetString());
        Assert.False(root.GetProperty("complete").GetBoolean());
        var members = root.GetProperty("members").EnumerateArray().ToList();
        Assert.Equal([1L, 2, 3], members.Select(m => m.GetProperty("id").GetInt64()));
        Assert.Equal(25, members[0].GetProperty("lag").GetInt64());
        Assert.False(members[2].GetProperty("up").GetBoolean());
        Assert.Equal(1_500, root.GetProperty("workers")[0].GetProperty("last_heartbeat_age_ms").GetInt64());
        Assert.Equal("linux", root.GetProperty("workers")[0].GetProperty("platform").GetProperty("OSFamily").GetString());
    }

    [Fact]
    public async Task Wait_gives_up_with_exit_3_naming_the_member_that_never_answered()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("status", "--wait", "1", "--heads", LeaderAddress);

        Assert.Equal(3, code);
        Assert.Contains($"leader 2 at {LeaderAddress}", stdout, StringComparison.Ordinal);
        Assert.Equal($"rh: after 1s: not answering: 3 at {_downAddress}", stderr.TrimEnd('\n'));
    }

    [Fact]
    public async Task No_head_answering_is_exit_3_naming_each()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("status", "--heads", _downAddress);

        Assert.Equal(3, code);
        Assert.Contains($"? {_downAddress}", string.Join(' ', stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        Assert.StartsWith($"rh: no head answered: {_downAddress}: ", stderr);
    }

    [Theory]
    [InlineData("--wait -1", "rh: --wait -1 must not be negative")]
    [InlineData("--heads nohost", "rh: --heads: 'nohost' is not an endpoint")]
    [InlineData("--heads ,", "rh: --heads names no head")]
    public async Task Bad_options_are_usage_failures(string options, string message)
    {
        var (code, _, stderr) = await RhProcess.RunAsync(["status", .. options.Split(' ')]);

        Assert.Equal(2, code);
        Assert.StartsWith(message, stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }

    private static string[] Fields(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private GetNodeStatusResponse Status(long id, NodeRole role, string address, long applied, long last)
    {
        var status = new GetNodeStatusResponse
        {
            NodeId = id,
            Address = address,
            Pid = 1000 + (int)id,
            StartedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow),
            Role = role,
            Term = 9,
            LeaderId = 2,
            LeaderAddress = LeaderAddress,
            CommitIndex = applied + 2,
            AppliedIndex = applied,
            LastIndex = last,
            Queued = 7,
            Leased = 3,
        };
        status.Members.Add(new ClusterMember { Id = 1, Address = FollowerAddress, Voter = true });
        status.Members.Add(new ClusterMember { Id = 2, Address = LeaderAddress, Voter = true });
        status.Members.Add(new ClusterMember { Id = 3, Address = _downAddress, Voter = true });
        var platform = new Platform();
        platform.Properties.Add(new Platform.Types.Property { Name = "OSFamily", Value = "linux" });
        status.Workers.Add(new WorkerStatus { WorkerId = "worker-a", Slots = 4, Leased = 3, LastHeartbeatAgeMs = 1_500, Platform = platform });
        status.Queues.Add(new QueueDepth { PlatformKey = "OSFamily=linux", Priority = -1, Depth = 7 });
        return status;
    }

    private static Task<FakeHead> StartAsync(Func<GetNodeStatusResponse> status) =>
        FakeHead.StartAsync(new AdminService(() => new GetCacheStatsResponse(), _ => new ListOperationsResponse(), status));
}
