using RaftHead.Protocol.V1;
using Snapshooter.Xunit;

namespace RaftHead.Cli.Tests;

/// <summary>
/// The human output of each command, rendered from fixed answers and a fixed now, compared with the reviewed text in
/// __snapshots__. A deliberate change of format is a change of those files, reviewed as text.
/// </summary>
public sealed class OutputSnapshotTests
{
    private static readonly HumanOutput Terminal = new(true, 100);

    [Fact]
    public void Workers() => Snapshot.Match(WorkersOutput.Render(Samples.Leader(), HumanOutput.Plain));

    [Fact]
    public void Workers_on_a_terminal() => Snapshot.Match(WorkersOutput.Render(Samples.Leader(), Terminal));

    [Fact]
    public void Workers_when_none_registered()
    {
        var leader = Samples.Leader();
        leader.Workers.Clear();
        Snapshot.Match(WorkersOutput.Render(leader, HumanOutput.Plain));
    }

    [Fact]
    public void Status() => Snapshot.Match(StatusOutput.Render(Samples.ThreeHeadsOneDown(), Samples.Now, HumanOutput.Plain));

    [Fact]
    public void Status_on_a_terminal() => Snapshot.Match(StatusOutput.Render(Samples.ThreeHeadsOneDown(), Samples.Now, Terminal));

    [Fact]
    public void Status_without_a_leader()
    {
        var answers = new Dictionary<string, GetNodeStatusResponse>(StringComparer.Ordinal)
        {
            ["127.0.0.1:8980"] = Candidate(Samples.Follower(1, "127.0.0.1:8980", applied: 1_190)),
            ["127.0.0.1:8982"] = Candidate(Samples.Follower(3, "127.0.0.1:8982", applied: 1_188)),
        };
        Snapshot.Match(StatusOutput.Render(new ClusterView(answers, new Dictionary<string, Grpc.Core.RpcException>(StringComparer.Ordinal)), Samples.Now, HumanOutput.Plain));

        static GetNodeStatusResponse Candidate(GetNodeStatusResponse status)
        {
            status.Role = NodeRole.Candidate;
            status.Term = 10;
            status.LeaderId = 0;
            status.LeaderAddress = "";
            return status;
        }
    }

    [Fact]
    public void Ops() => Snapshot.Match(OpsOutput.Render(Samples.Operations(), Samples.Now, HumanOutput.Plain));

    [Fact]
    public void Ops_on_a_narrow_terminal_cut_digests_short() => Snapshot.Match(OpsOutput.Render(WithoutClones(Samples.Operations()), Samples.Now, Terminal));

    [Fact]
    public void Ops_with_clones_on_a_terminal() => Snapshot.Match(OpsOutput.Render(Samples.Operations(), Samples.Now, new HumanOutput(true, 120)));

    [Fact]
    public void Ops_without_clones_has_no_clones_column() => Snapshot.Match(OpsOutput.Render(WithoutClones(Samples.Operations()), Samples.Now, HumanOutput.Plain));

    [Fact]
    public void Ops_on_a_head_that_does_not_execute() =>
        Snapshot.Match(OpsOutput.Render(new ListOperationsResponse(), Samples.Now, HumanOutput.Plain));

    [Fact]
    public void Status_of_a_cluster_that_raced_no_clones()
    {
        var view = Samples.ThreeHeadsOneDown();
        foreach (var answer in view.Answers.Values)
        {
            answer.Speculation = new SpeculationStatus();
        }

        Snapshot.Match(StatusOutput.Render(view, Samples.Now, HumanOutput.Plain));
    }

    [Fact]
    public void Cache_stats() => Snapshot.Match(CacheOutput.RenderStats(Samples.CacheStats(), HumanOutput.Plain));

    [Fact]
    public void Cache_get() => Snapshot.Match(CacheOutput.RenderResult(Samples.Digest('9', 142).Hash + "/142", Samples.CachedResult(), HumanOutput.Plain));

    private static ListOperationsResponse WithoutClones(ListOperationsResponse response)
    {
        foreach (var op in response.Operations)
        {
            op.Clones = 0;
            op.CloneWon = false;
        }

        return response;
    }
}
