using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Head;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Storage.Remote;
using RaftHead.Testing;

namespace RaftHead.Worker.Tests.Graphs;

/// <summary>Action graphs run end to end: a head, a real worker, real processes, outputs passed from node to node through the CAS.</summary>
public sealed class GraphRunTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _root = new("rh-graph-run-test-");
    private readonly GrpcChannels _channels = new(HeadConnection.ChannelSettings);
    private readonly List<IAsyncDisposable> _owned = [];
    private WorkerStorage? _storage;
    private HeadNode _head = null!;
    private ReapiClients _clients = null!;
    private RemoteBlobStore _cas = null!;

    public async Task InitializeAsync()
    {
        File.SetUnixFileMode(_root.Path, (UnixFileMode)0x1ED); // the run-as user walks down to the sandboxes
        _head = await HeadNode.StartAsync(new HeadNodeOptions { DataDirectory = _root.Combine("head"), Port = 0, CasMaxBytes = 1L << 30, ExecutionEnabled = true }, CancellationToken.None);
        _clients = new ReapiClients(_channels.For(_head.Address.Authority));
        _cas = new RemoteBlobStore(new HeadConnection([_head.Address.Authority], _channels));
        await StartWorkerAsync();
    }

    public async Task DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        _storage?.Dispose();
        _channels.Dispose();
        await _head.DisposeAsync();
        _root.Dispose();
    }

    [Fact]
    public async Task Nodes_run_in_dependency_order_each_consumer_reading_its_producers_outputs_and_a_rerun_is_all_cache_hits()
    {
        var own = await PutAsync(new Build.Bazel.Remote.Execution.V2.Directory
        {
            Files = { new FileNode { Name = "suffix.txt", Digest = await PutBytesAsync("!\n") } },
        });
        var graph = Graph(
            "build-1",
            Node("gen", "printf 'hello\\n' > greeting.txt && mkdir -p tree/sub && echo nested > tree/sub/a.txt", ["greeting.txt", "tree"]),
            Node(
                "shout",
                "tr a-z A-Z < in/greeting.txt > loud.txt && cat suffix.txt d/sub/a.txt >> loud.txt",
                ["loud.txt"],
                own,
                new NodeInput { Node = "gen", Output = "greeting.txt", Path = "in/greeting.txt" },
                new NodeInput { Node = "gen", Output = "tree", Path = "d" }),
            Node("count", "wc -c < loud.txt > size.txt", ["size.txt"], null, new NodeInput { Node = "shout", Output = "loud.txt" }));

        var submitted = await _clients.Graphs.SubmitGraphAsync(graph);
        Assert.False(submitted.Duplicate);
        Assert.Equal(GraphNodePhase.Ready, submitted.Status.Nodes[0].Phase);
        Assert.Equal(GraphNodePhase.Waiting, submitted.Status.Nodes[2].Phase);

        var events = await WatchAsync("build-1", 0);
        Assert.True(events[^1].GraphFinished);
        var sequences = events.Select(e => e.Node.Sequence).ToList();
        Assert.Equal(sequences.Order().ToList(), sequences);

        // Each node was seen waiting or ready, then running, then completed, never out of dependency order.
        var completedAt = events.Select((e, i) => (e, i)).Where(x => x.e.Node.Phase == GraphNodePhase.Completed).ToDictionary(x => x.e.Node.Id, x => x.i);
        Assert.Equal(3, completedAt.Count);
        Assert.True(completedAt["gen"] < completedAt["shout"] && completedAt["shout"] < completedAt["count"]);

        var status = await _clients.Graphs.GetGraphAsync(new GetGraphRequest { GraphId = "build-1" });
        Assert.NotEqual(0, status.FinishedAtUnixMs);
        Assert.Equal(3u, status.Counts.Completed);
        Assert.Equal("HELLO\n!\nnested\n", await ReadOutputAsync(status, "shout", "loud.txt"));
        Assert.Equal("15", (await ReadOutputAsync(status, "count", "size.txt")).Trim());

        // Resuming after a sequence number gives each node changed since, once, as it is now, in the order of the changes.
        var middle = events[events.Count / 2].Node.Sequence;
        var resumed = await WatchAsync("build-1", middle);
        Assert.Equal(status.Nodes.Where(n => n.Sequence > middle).OrderBy(n => n.Sequence), resumed.Select(e => e.Node));
        Assert.True(resumed[^1].GraphFinished);

        // The same build again under another id: nothing runs, every node is a cache hit with the same outputs.
        graph.GraphId = "build-2";
        await _clients.Graphs.SubmitGraphAsync(graph);
        await WatchAsync("build-2", 0);
        var again = await _clients.Graphs.GetGraphAsync(new GetGraphRequest { GraphId = "build-2" });
        Assert.All(again.Nodes, n => Assert.Equal(GraphNodePhase.Cached, n.Phase));
        Assert.Equal(status.Nodes.Select(n => n.ActionDigest), again.Nodes.Select(n => n.ActionDigest));

        // Submitting a graph again is idempotent.
        Assert.True((await _clients.Graphs.SubmitGraphAsync(graph)).Duplicate);
    }

    [Fact]
    public async Task A_failing_node_fails_its_dependants_naming_it_and_independent_nodes_still_run()
    {
        var graph = Graph(
            "broken",
            Node("bad", "echo oops >&2; exit 3", ["out.txt"]),
            Node("after", "cat in.txt", ["x"], null, new NodeInput { Node = "bad", Output = "out.txt", Path = "in.txt" }),
            Node("fine", "echo ok > ok.txt", ["ok.txt"]));
        await _clients.Graphs.SubmitGraphAsync(graph);
        await WatchAsync("broken", 0);

        var status = await _clients.Graphs.GetGraphAsync(new GetGraphRequest { GraphId = "broken" });
        var bad = status.Nodes.Single(n => n.Id == "bad");
        Assert.Equal(GraphNodePhase.Failed, bad.Phase);
        Assert.Equal("exit code 3", bad.Failure);
        Assert.Equal("oops\n", System.Text.Encoding.UTF8.GetString((await _cas.ReadAllAsync("", bad.Result.StderrDigest, CancellationToken.None))!));
        var after = status.Nodes.Single(n => n.Id == "after");
        Assert.Equal(GraphNodePhase.Failed, after.Phase);
        Assert.Equal("not run: node 'bad' it depends on failed", after.Failure);
        Assert.Equal(GraphNodePhase.Completed, status.Nodes.Single(n => n.Id == "fine").Phase);
        Assert.Equal(2u, status.Counts.Failed);
    }

    [Fact]
    public async Task A_node_whose_producer_left_no_such_output_fails_saying_so()
    {
        var graph = Graph(
            "forgetful",
            Node("maker", "true", ["promised.txt"]),
            Node("user", "cat promised.txt", ["y"], null, new NodeInput { Node = "maker", Output = "promised.txt" }));
        await _clients.Graphs.SubmitGraphAsync(graph);
        await WatchAsync("forgetful", 0);
        var user = (await _clients.Graphs.GetGraphAsync(new GetGraphRequest { GraphId = "forgetful" })).Nodes.Single(n => n.Id == "user");
        Assert.Equal(GraphNodePhase.Failed, user.Phase);
        Assert.Equal("node 'maker' left no output 'promised.txt'", user.Failure);
    }

    [Fact]
    public async Task A_node_whose_own_input_tree_names_a_file_the_CAS_lacks_fails_naming_it_and_does_not_run()
    {
        var absent = Digests.Compute("never uploaded"u8);
        var root = await PutAsync(new Build.Bazel.Remote.Execution.V2.Directory { Files = { new FileNode { Name = "source.c", Digest = absent } } });
        await _clients.Graphs.SubmitGraphAsync(Graph("incomplete", Node("compile", "cat source.c", ["o"], root)));
        await WatchAsync("incomplete", 0);
        var node = (await _clients.Graphs.GetGraphAsync(new GetGraphRequest { GraphId = "incomplete" })).Nodes.Single();
        Assert.Equal(GraphNodePhase.Failed, node.Phase);
        Assert.StartsWith("its inputs are not usable: ", node.Failure, StringComparison.Ordinal);
        Assert.Equal("", node.OperationName);
    }

    [Fact]
    public async Task Bad_graphs_are_refused_with_the_node_named_and_nothing_is_stored()
    {
        var cyclic = Graph(
            "cyclic",
            Node("a", "true", ["o"], null, new NodeInput { Node = "b", Output = "o" }),
            Node("b", "true", ["o"], null, new NodeInput { Node = "a", Output = "o" }));
        var refused = await Assert.ThrowsAsync<RpcException>(() => _clients.Graphs.SubmitGraphAsync(cyclic).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("node 'a': it depends on itself", refused.Status.Detail, StringComparison.Ordinal);

        var missingRoot = Graph("missing-root", Node("a", "true", ["o"], Digests.Compute("not uploaded"u8)));
        var missing = await Assert.ThrowsAsync<RpcException>(() => _clients.Graphs.SubmitGraphAsync(missingRoot).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, missing.StatusCode);

        var badPlatform = Graph("bad-platform", Node("a", "true", ["o"]));
        badPlatform.Nodes[0].Platform = new Platform { Properties = { new Platform.Types.Property { Name = "gpu", Value = "0.25" } } };
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => _clients.Graphs.SubmitGraphAsync(badPlatform).ResponseAsync)).StatusCode);

        foreach (var id in new[] { "cyclic", "missing-root", "bad-platform" })
        {
            var absent = await Assert.ThrowsAsync<RpcException>(() => _clients.Graphs.GetGraphAsync(new GetGraphRequest { GraphId = id }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, absent.StatusCode);
        }
    }

    [Fact]
    public async Task Cancelling_a_graph_stops_its_running_node_and_cancels_the_rest()
    {
        var graph = Graph(
            "long",
            Node("sleeper", "sleep 60", ["o"]),
            Node("next", "true", ["p"], null, new NodeInput { Node = "sleeper", Output = "o" }));
        await _clients.Graphs.SubmitGraphAsync(graph);
        await TestServers.EventuallyAsync(
            () => _clients.Graphs.GetGraph(new GetGraphRequest { GraphId = "long" }).Nodes[0].Phase == GraphNodePhase.Running,
            Deadline,
            "the sleeper running");

        var cancelled = await _clients.Graphs.CancelGraphAsync(new CancelGraphRequest { GraphId = "long", Reason = "no longer needed" });
        Assert.Equal(2u, cancelled.Cancelled);
        var events = await WatchAsync("long", 0);
        Assert.True(events[^1].GraphFinished);
        var status = await _clients.Graphs.GetGraphAsync(new GetGraphRequest { GraphId = "long" });
        Assert.All(status.Nodes, n => Assert.Equal(GraphNodePhase.Cancelled, n.Phase));
        var operation = await _clients.Operations.GetOperationAsync(new Google.LongRunning.GetOperationRequest { Name = status.Nodes[0].OperationName });
        Assert.True(operation.Done);
        Assert.Equal((int)StatusCode.Cancelled, operation.Error?.Code ?? operation.Response.Unpack<ExecuteResponse>().Status.Code);
    }

    private static SubmitGraphRequest Graph(string id, params GraphNode[] nodes)
    {
        var graph = new SubmitGraphRequest { GraphId = id };
        graph.Nodes.Add(nodes);
        return graph;
    }

    private static GraphNode Node(string id, string script, string[] outputs, Digest? inputRoot = null, params NodeInput[] inputs)
    {
        var node = new GraphNode
        {
            Id = id,
            Arguments = { "/bin/sh", "-c", script },
            EnvironmentVariables = { new Command.Types.EnvironmentVariable { Name = "PATH", Value = "/usr/bin:/bin" } },
            OutputPaths = { outputs },
            InputRootDigest = inputRoot,
        };
        node.Inputs.Add(inputs);
        return node;
    }

    private async Task<List<GraphEvent>> WatchAsync(string graphId, long after)
    {
        using var timeout = new CancellationTokenSource(Deadline);
        using var call = _clients.Graphs.WatchGraph(new WatchGraphRequest { GraphId = graphId, AfterSequence = after }, cancellationToken: timeout.Token);
        var events = new List<GraphEvent>();
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            events.Add(call.ResponseStream.Current);
        }

        return events;
    }

    private async Task<string> ReadOutputAsync(GraphStatus status, string nodeId, string path)
    {
        var file = status.Nodes.Single(n => n.Id == nodeId).Result.OutputFiles.Single(f => f.Path == path);
        return System.Text.Encoding.UTF8.GetString((await _cas.ReadAllAsync("", file.Digest, CancellationToken.None))!);
    }

    private async Task<Digest> PutAsync(IMessage message) => await PutBytesAsync(message.ToByteArray());

    private async Task<Digest> PutBytesAsync(string text) => await PutBytesAsync(System.Text.Encoding.UTF8.GetBytes(text));

    private async Task<Digest> PutBytesAsync(byte[] bytes)
    {
        var digest = Digests.Compute(bytes);
        await _cas.PutAsync("", digest, bytes, CancellationToken.None);
        return digest;
    }

    private async Task StartWorkerAsync() =>
        _storage = await ComposedWorker.StartAsync(_root.Combine("worker"), "w", _head.Address.Authority, _channels, slots: 2, _owned);
}
