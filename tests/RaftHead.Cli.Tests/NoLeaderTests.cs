using Grpc.Core;
using RaftHead.Head.Admin;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Tests;

/// <summary>Commands that need the leader wait for one, say so, and give up with a reason when none is elected.</summary>
public sealed class NoLeaderTests : IAsyncLifetime
{
    private FakeHead _candidate = null!;

    public async Task InitializeAsync()
    {
        _candidate = await FakeHead.StartAsync(new AdminService(() => new GetCacheStatsResponse(), _ => new ListOperationsResponse(), Candidate));
    }

    public async Task DisposeAsync() => await _candidate.DisposeAsync();

    private GetNodeStatusResponse Candidate()
    {
        var status = new GetNodeStatusResponse { NodeId = 1, Address = _candidate.Address, Role = NodeRole.Candidate, Term = 4 };
        status.Members.Add(new ClusterMember { Id = 1, Address = _candidate.Address, Voter = true });
        return status;
    }

    [Fact]
    public async Task Workers_without_a_leader_says_it_retries_then_fails_with_exit_3()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("workers", "--wait", "1", "--endpoint", _candidate.Address);

        Assert.Equal(3, code);
        Assert.Empty(stdout);
        Assert.Equal(["rh: no leader yet; retrying", "rh: no leader after 1s: no leader known"], stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task Status_wait_without_a_leader_says_it_retries()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("status", "--wait", "1", "--heads", _candidate.Address);

        Assert.Equal(3, code);
        Assert.StartsWith("leader: none known, term 4", stdout, StringComparison.Ordinal);
        Assert.Equal(["rh: no leader yet; retrying", "rh: after 1s: no leader known"], stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task A_call_a_leaderless_head_never_answers_is_named_with_the_reason_the_head_gives()
    {
        await using var head = await FakeHead.StartAsync(new LeaderlessHead());

        var (code, stdout, stderr) = await RhProcess.RunAsync("cache", "stats", "--endpoint", head.Address);

        Assert.Equal(3, code);
        Assert.Empty(stdout);
        Assert.Equal($"rh: {head.Address} did not answer within 10s: it knows no leader (an election is under way, or too few heads are up to hold one)\n", stderr);
    }

    /// <summary>A head whose reads wait for a leader that never comes (as a linearizable read does), and says it knows none.</summary>
    private sealed class LeaderlessHead : RaftHead.Protocol.V1.Admin.AdminBase
    {
        public override async Task<GetCacheStatsResponse> GetCacheStats(GetCacheStatsRequest request, ServerCallContext context)
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
            return new GetCacheStatsResponse();
        }

        public override Task<GetNodeStatusResponse> GetNodeStatus(GetNodeStatusRequest request, ServerCallContext context) =>
            Task.FromResult(new GetNodeStatusResponse { NodeId = 1, Role = NodeRole.PreCandidate, Term = 4 });
    }
}
