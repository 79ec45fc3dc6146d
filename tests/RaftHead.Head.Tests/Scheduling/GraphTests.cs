using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>Action graphs in the replicated scheduler: what is accepted, the order nodes run in, and how outcomes spread.</summary>
public sealed class GraphTests
{
    [Theory]
    [InlineData(new[] { "a<-b", "b<-c", "c<-a" }, "node 'a': it depends on itself through its inputs (a cycle)")]
    [InlineData(new[] { "a", "b<-missing" }, "node 'b': inputs[0] names node 'missing', which is not in the graph")]
    [InlineData(new[] { "a", "a" }, "node 'a': the id is used twice (nodes[0] and nodes[1])")]
    [InlineData(new[] { "a<-a" }, "node 'a': inputs[0] names the node itself")]
    [InlineData(new[] { "bad:id" }, "nodes[0].id: 'bad:id' holds ':'; ids use A-Z a-z 0-9 . _ - + /")]
    public void A_malformed_graph_is_refused_naming_the_node_and_nothing_is_stored(string[] nodes, string message)
    {
        var scheduler = new Scheduler();
        Assert.Equal(message, scheduler.Refused(SubmitGraph(Graph("g", nodes)), SchedulerResultCode.InvalidArgument));
        Assert.Empty(scheduler.State.Graphs);
    }

    [Fact]
    public void A_reference_to_an_output_the_producer_does_not_declare_is_refused()
    {
        var graph = Graph("g", "a", "b<-a");
        graph.Nodes[1].Inputs[0].Output = "other";
        var scheduler = new Scheduler();
        Assert.Equal("node 'b': inputs[0] names output 'other' of node 'a', which does not declare it", scheduler.Refused(SubmitGraph(graph), SchedulerResultCode.InvalidArgument));
    }

    [Fact]
    public void Nodes_become_ready_only_when_every_producer_completed_and_the_graph_finishes_with_its_last_node()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w1", slots: 4));
        scheduler.Ok(SubmitGraph(Graph("g", "compile1", "compile2", "link<-compile1,compile2", "docs")));
        Assert.Equal([0, 1, 3], scheduler.State.FindGraph("g")!.Ready);
        Assert.Equal(GraphNodePhase.Waiting, scheduler.Node("g", "link").Phase);

        var c1 = scheduler.Ok(StartNode("g", "compile1")).Submit.OperationName;
        var c2 = scheduler.Ok(StartNode("g", "compile2")).Submit.OperationName;
        Assert.Equal(GraphNodePhase.Queued, scheduler.Node("g", "compile1").Phase);
        Assert.Equal(c1, scheduler.Node("g", "compile1").OperationName);

        scheduler.Ok(Assign(1_600, (c1, "w1", 1u), (c2, "w1", 1u)));
        Assert.Equal(GraphNodePhase.Running, scheduler.Node("g", "compile2").Phase);
        scheduler.Ok(Complete(c1, "w1", at: 1_700));
        Assert.Equal(GraphNodePhase.Completed, scheduler.Node("g", "compile1").Phase);
        Assert.Equal(c1, scheduler.Node("g", "compile1").Result.StdoutRaw.ToStringUtf8());
        Assert.Equal(GraphNodePhase.Waiting, scheduler.Node("g", "link").Phase);

        scheduler.Ok(Complete(c2, "w1", at: 1_800));
        Assert.Equal(GraphNodePhase.Ready, scheduler.Node("g", "link").Phase);

        var link = scheduler.Ok(StartNode("g", "link", at: 1_900)).Submit.OperationName;
        var docs = scheduler.Ok(StartNode("g", "docs", at: 1_900)).Submit.OperationName;
        scheduler.Ok(Assign(2_000, (link, "w1", 1u), (docs, "w1", 1u)));
        scheduler.Ok(Complete(docs, "w1", at: 2_100));
        Assert.Equal(0, scheduler.State.FindGraph("g")!.FinishedAtUnixMs);
        scheduler.Ok(Complete(link, "w1", at: 2_200));

        var graph = scheduler.State.FindGraph("g")!;
        Assert.Equal(2_200, graph.FinishedAtUnixMs);
        Assert.All(graph.Nodes, n => Assert.Equal(GraphNodePhase.Completed, n.Phase));
        Assert.Empty(scheduler.State.GraphLinks);

        // Every change has its own sequence number, the last one the graph's.
        var sequences = graph.Nodes.Select(n => n.Sequence).ToList();
        Assert.Equal(sequences.Count, sequences.Distinct().Count());
        Assert.Equal(graph.Sequence, sequences.Max());
    }

    [Fact]
    public void A_node_whose_action_is_cached_completes_without_running_and_releases_its_dependants()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(CacheUpdate("compile"));
        scheduler.Ok(SubmitGraph(Graph("g", "compile", "link<-compile")));
        var started = scheduler.Ok(StartNode("g", "compile", action: "compile"));
        Assert.Equal(SubmitDisposition.Cached, started.Submit.Disposition);
        Assert.Equal(GraphNodePhase.Cached, scheduler.Node("g", "compile").Phase);
        Assert.Equal(GraphNodePhase.Ready, scheduler.Node("g", "link").Phase);
        Assert.Equal(0, scheduler.State.UnfinishedCount);
    }

    [Fact]
    public void A_failed_node_fails_everything_downstream_naming_it_and_leaves_independent_nodes_alone()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w1", slots: 4));
        scheduler.Ok(SubmitGraph(Graph("g", "gen", "compile<-gen", "link<-compile", "other")));
        var gen = scheduler.Ok(StartNode("g", "gen")).Submit.OperationName;
        scheduler.Ok(Assign(1_600, (gen, "w1", 1u)));
        scheduler.Ok(Complete(gen, "w1", exitCode: 2, at: 1_700));

        Assert.Equal("exit code 2", scheduler.Node("g", "gen").Failure);
        Assert.Equal(2, scheduler.Node("g", "gen").Result.ExitCode);
        foreach (var downstream in new[] { "compile", "link" })
        {
            Assert.Equal(GraphNodePhase.Failed, scheduler.Node("g", downstream).Phase);
            Assert.Equal("not run: node 'gen' it depends on failed", scheduler.Node("g", downstream).Failure);
        }

        Assert.Equal(GraphNodePhase.Ready, scheduler.Node("g", "other").Phase);
        Assert.Equal(0, scheduler.State.FindGraph("g")!.FinishedAtUnixMs);
    }

    [Fact]
    public void A_dead_lettered_run_fails_its_node_with_the_reason()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(SubmitGraph(Graph("g", "a", "b<-a")));
        var a = scheduler.Ok(StartNode("g", "a")).Submit.OperationName;
        scheduler.Ok(DeadLetter(a, "poison input"));
        Assert.Equal(GraphNodePhase.Failed, scheduler.Node("g", "a").Phase);
        Assert.Contains("poison input", scheduler.Node("g", "a").Failure, StringComparison.Ordinal);
        Assert.Equal(GraphNodePhase.Failed, scheduler.Node("g", "b").Phase);
        Assert.NotEqual(0, scheduler.State.FindGraph("g")!.FinishedAtUnixMs);
    }

    [Fact]
    public void A_node_that_cannot_be_composed_fails_with_the_leaders_reason_and_so_do_its_dependants()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(SubmitGraph(Graph("g", "a", "b<-a")));
        scheduler.Ok(FailNode("g", "a", "producer 'x' left no output 'out'"));
        Assert.Equal("producer 'x' left no output 'out'", scheduler.Node("g", "a").Failure);
        Assert.Equal(GraphNodePhase.Failed, scheduler.Node("g", "b").Phase);

        // Once failed, a late start or failure from another leader is stale and changes nothing.
        scheduler.Refused(StartNode("g", "a"), SchedulerResultCode.Stale);
        scheduler.Refused(FailNode("g", "a", "again"), SchedulerResultCode.Stale);
    }

    [Fact]
    public void A_start_is_applied_once_a_second_leaders_start_of_the_same_run_is_stale()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(SubmitGraph(Graph("g", "a", "b<-a")));
        scheduler.Ok(StartNode("g", "a"));
        Assert.Contains("not ready", scheduler.Refused(StartNode("g", "a"), SchedulerResultCode.Stale), StringComparison.Ordinal);
        scheduler.Refused(StartNode("g", "b"), SchedulerResultCode.Stale);
        scheduler.Refused(StartNode("g", "nope"), SchedulerResultCode.NotFound);
        scheduler.Refused(StartNode("nope", "a"), SchedulerResultCode.NotFound);
        scheduler.Refused(StartNode("g", "a", runs: 1, action: "other", instance: "elsewhere"), SchedulerResultCode.Stale);
        Assert.Equal(1, scheduler.State.UnfinishedCount);
    }

    [Fact]
    public void Submitting_a_graph_again_changes_nothing_and_another_graph_under_the_id_is_refused()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(SubmitGraph(Graph("g", "a", "b<-a")));
        var version = scheduler.State.Version;
        Assert.True(scheduler.Ok(SubmitGraph(Graph("g", "a", "b<-a"), at: 9_000)).SubmitGraph.Duplicate);
        Assert.Equal(version, scheduler.State.Version);
        Assert.Equal("graph_id g was already used for another graph", scheduler.Refused(SubmitGraph(Graph("g", "a")), SchedulerResultCode.InvalidArgument));
    }

    [Fact]
    public void Cancelling_a_graph_stops_its_own_runs_but_not_a_run_another_client_waits_for()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w1", slots: 4));
        scheduler.Ok(SubmitGraph(Graph("g", "mine", "shared", "later<-mine")));
        var mine = scheduler.Ok(StartNode("g", "mine")).Submit.OperationName;
        var shared = scheduler.Ok(StartNode("g", "shared")).Submit.OperationName;
        Assert.Equal(SubmitDisposition.Joined, scheduler.Ok(Submit("bazel-request", action: "shared")).Submit.Disposition);
        scheduler.Ok(Assign(1_600, (mine, "w1", 1u), (shared, "w1", 1u)));

        Assert.Equal(3u, scheduler.Ok(CancelGraph("g", "user pressed Ctrl+C")).CancelGraph.CancelledNodes);
        Assert.All(scheduler.State.FindGraph("g")!.Nodes, n => Assert.Equal(GraphNodePhase.Cancelled, n.Phase));
        Assert.Equal("user pressed Ctrl+C", scheduler.Node("g", "later").Failure);
        Assert.Equal(OperationPhase.Cancelled, scheduler.Operation(mine).Phase);
        Assert.Equal(OperationPhase.Leased, scheduler.Operation(shared).Phase);
        Assert.Empty(scheduler.State.GraphLinks);
        scheduler.Refused(CancelGraph("g"), SchedulerResultCode.AlreadyFinished);
        scheduler.Refused(CancelGraph("none"), SchedulerResultCode.NotFound);
    }

    [Fact]
    public void Two_nodes_with_the_same_action_share_one_run()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w1"));
        scheduler.Ok(SubmitGraph(Graph("g", "x", "y", "z<-x,y")));
        var x = scheduler.Ok(StartNode("g", "x", action: "same")).Submit.OperationName;
        var y = scheduler.Ok(StartNode("g", "y", action: "same"));
        Assert.Equal(SubmitDisposition.Joined, y.Submit.Disposition);
        Assert.Equal(x, y.Submit.OperationName);
        scheduler.Ok(Assign(1_600, (x, "w1", 1u)));
        scheduler.Ok(Complete(x, "w1"));
        Assert.Equal(GraphNodePhase.Completed, scheduler.Node("g", "y").Phase);
        Assert.Equal(GraphNodePhase.Ready, scheduler.Node("g", "z").Phase);
    }

    [Fact]
    public void A_finished_graph_is_pruned_with_the_operations_of_its_time_and_an_unfinished_one_is_kept()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(SubmitGraph(Graph("done", "a")));
        scheduler.Ok(SubmitGraph(Graph("open", "a")));
        scheduler.Ok(FailNode("done", "a", "no such tool"));
        scheduler.Ok(Prune(before: 10_000));
        Assert.Null(scheduler.State.FindGraph("done"));
        Assert.NotNull(scheduler.State.FindGraph("open"));
    }

    [Fact]
    public void A_restored_snapshot_mid_graph_continues_exactly_as_the_original()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w1"));
        scheduler.Ok(SubmitGraph(Graph("g", "a", "b", "c<-a,b")));
        var a = scheduler.Ok(StartNode("g", "a")).Submit.OperationName;
        scheduler.Ok(StartNode("g", "b", action: "a"));
        scheduler.Ok(Assign(1_600, (a, "w1", 1u)));

        var restored = new SchedulerStateMachine();
        restored.Restore(scheduler.Machine.Snapshot());
        Assert.Null(SchedulerInvariants.Check(restored.Current, restored.Limits));
        var complete = Complete(a, "w1");
        scheduler.Ok(complete);
        restored.Apply(scheduler.LastIndex, complete);
        Assert.Equal(scheduler.Machine.Snapshot(), restored.Snapshot());
        Assert.Equal(GraphNodePhase.Ready, restored.Current.FindGraph("g")!.FindNode("c")!.Phase);
    }

    [Fact]
    public void An_older_command_version_cannot_carry_graph_commands()
    {
        var scheduler = new Scheduler();
        var command = SubmitGraph(Graph("g", "a"));
        command.Version = 2;
        scheduler.Refused(command, SchedulerResultCode.UnsupportedVersion);
    }

    [Fact]
    public void A_lost_intermediate_output_runs_its_producer_again_and_the_consumer_waits_for_it()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w1", slots: 4));
        scheduler.Ok(SubmitGraph(Graph("g", "lib", "tool", "app<-lib,tool", "test<-lib")));
        foreach (var id in new[] { "lib", "tool" })
        {
            var name = scheduler.Ok(StartNode("g", id)).Submit.OperationName;
            scheduler.Ok(Assign(1_600, (name, "w1", 1u)));
            scheduler.Ok(Complete(name, "w1", at: 1_700));
        }

        Assert.Equal(GraphNodePhase.Ready, scheduler.Node("g", "app").Phase);
        Assert.Equal(GraphNodePhase.Ready, scheduler.Node("g", "test").Phase);

        // The leader finds lib's output gone while composing app: lib runs again, and both its consumers wait.
        scheduler.Ok(Regenerate("g", "app", runs: 0, producers: "lib"));
        Assert.Equal(GraphNodePhase.Ready, scheduler.Node("g", "lib").Phase);
        Assert.Equal("running again: outputs gone", scheduler.Node("g", "lib").Failure);
        Assert.Equal(GraphNodePhase.Waiting, scheduler.Node("g", "app").Phase);
        Assert.Equal(GraphNodePhase.Waiting, scheduler.Node("g", "test").Phase);
        Assert.Equal(GraphNodePhase.Completed, scheduler.Node("g", "tool").Phase);

        var rerun = scheduler.Ok(StartNode("g", "lib", runs: 1, action: "lib-again")).Submit.OperationName;
        scheduler.Ok(Assign(3_100, (rerun, "w1", 1u)));
        scheduler.Ok(Complete(rerun, "w1", at: 3_200));
        Assert.Equal(2u, scheduler.Node("g", "lib").Runs);
        Assert.Equal(GraphNodePhase.Ready, scheduler.Node("g", "app").Phase);
        Assert.Equal(GraphNodePhase.Ready, scheduler.Node("g", "test").Phase);

        // Stale or wrong proposals change nothing.
        scheduler.Refused(Regenerate("g", "app", runs: 1, producers: "lib"), SchedulerResultCode.Stale);
        scheduler.Refused(Regenerate("g", "app", runs: 0, producers: "test"), SchedulerResultCode.InvalidArgument);
    }

    [Fact]
    public void An_output_lost_again_and_again_fails_its_consumer_instead_of_looping()
    {
        var scheduler = new Scheduler(new SchedulerLimits { GraphNodeRunsMax = 2 });
        scheduler.Ok(Register("w1"));
        scheduler.Ok(SubmitGraph(Graph("g", "gen", "use<-gen", "after<-use")));
        for (var run = 0u; run < 2; run++)
        {
            var name = scheduler.Ok(StartNode("g", "gen", runs: run, action: "gen" + run)).Submit.OperationName;
            scheduler.Ok(Assign(1_600, (name, "w1", 1u)));
            scheduler.Ok(Complete(name, "w1", at: 1_700));
            scheduler.Ok(Regenerate("g", "use", runs: 0, producers: "gen"));
        }

        Assert.Equal(GraphNodePhase.Failed, scheduler.Node("g", "use").Phase);
        Assert.Equal("the outputs of node 'gen' were lost after 2 run(s): outputs gone", scheduler.Node("g", "use").Failure);
        Assert.Equal(GraphNodePhase.Failed, scheduler.Node("g", "after").Phase);
        Assert.Equal(GraphNodePhase.Completed, scheduler.Node("g", "gen").Phase);
    }
}
