using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Cli.Graphs;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using RaftHead.Testing;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Cli.Tests.Graphs;

/// <summary><c>rh submit</c> against an in-process head: what arrives, what is uploaded, and how a watch ends.</summary>
public sealed class SubmitTests : IDisposable
{
    private const string Graph = """
        {
          "nodes": [
            { "id": "compile", "argv": ["cc", "-c", "src/a.c", "-o", "a.o"], "env": {"LC_ALL": "C", "CCACHE": "0"},
              "inputs": ["src/a.c", "include/"], "outputs": ["a.o"], "platform": {"OSFamily": "linux", "Arch": "x86_64"},
              "timeout_s": 30, "do_not_cache": true },
            { "id": "link", "argv": ["cc", "-o", "app", "a.o", "objs/a.o"], "workdir": "out",
              "inputs": ["compile:a.o", {"from": "compile", "output": "a.o", "path": "objs/a.o"}], "outputs": ["app"] }
          ]
        }
        """;

    private readonly TempDirectory _dir = new("rh-submit-");

    public SubmitTests()
    {
        System.IO.Directory.CreateDirectory(_dir.Combine("src"));
        System.IO.Directory.CreateDirectory(_dir.Combine("include"));
        File.WriteAllText(_dir.Combine("src", "a.c"), "#include \"x.h\"\nint a = X;\n");
        File.WriteAllText(_dir.Combine("include", "x.h"), "#define X 1\n");
        File.WriteAllText(_dir.Combine("graph.json"), Graph);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Submit_sends_the_graph_as_written_and_uploads_only_the_blobs_the_head_lacks()
    {
        var state = new FakeGraphHead.FakeState();
        var source = Encoding.UTF8.GetBytes("#include \"x.h\"\nint a = X;\n");
        state.Blobs[Digests.Compute(source)] = ByteString.CopyFrom(source);
        await using var head = await FakeGraphHead.StartAsync(state);

        var (code, stdout, stderr) = await SubmitAsync(head, watch: false);

        Assert.True(code == 0, stderr);
        var request = Assert.Single(state.Submitted);
        Assert.Equal(GraphRequestBuilder.DefaultGraphId(request), request.GraphId);
        Assert.Equal(32, request.GraphId.Length);
        Assert.Equal($"graph {request.GraphId} submitted: 2 nodes; uploaded 4 of 5 blobs", stdout.Split(" (")[0]);

        var header = new ReapiDirectory { Files = { new FileNode { Name = "x.h", Digest = Digests.Compute("#define X 1\n"u8) } } };
        var src = new ReapiDirectory { Files = { new FileNode { Name = "a.c", Digest = Digests.Compute(source) } } };
        var root = new ReapiDirectory
        {
            Directories =
            {
                new DirectoryNode { Name = "include", Digest = Digests.ComputeOf(header) },
                new DirectoryNode { Name = "src", Digest = Digests.ComputeOf(src) },
            },
        };
        var compile = new GraphNode
        {
            Id = "compile",
            Arguments = { "cc", "-c", "src/a.c", "-o", "a.o" },
            EnvironmentVariables =
            {
                new Command.Types.EnvironmentVariable { Name = "CCACHE", Value = "0" },
                new Command.Types.EnvironmentVariable { Name = "LC_ALL", Value = "C" },
            },
            OutputPaths = { "a.o" },
            InputRootDigest = Digests.ComputeOf(root),
            Platform = new Platform
            {
                Properties =
                {
                    new Platform.Types.Property { Name = "Arch", Value = "x86_64" },
                    new Platform.Types.Property { Name = "OSFamily", Value = "linux" },
                },
            },
            Timeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(30)),
            DoNotCache = true,
        };
        var link = new GraphNode
        {
            Id = "link",
            Arguments = { "cc", "-o", "app", "a.o", "objs/a.o" },
            OutputPaths = { "app" },
            Inputs =
            {
                new NodeInput { Node = "compile", Output = "a.o" },
                new NodeInput { Node = "compile", Output = "a.o", Path = "objs/a.o" },
            },
            WorkingDirectory = "out",
        };
        Assert.Equal(new SubmitGraphRequest { GraphId = request.GraphId, Nodes = { compile, link } }, request);

        // Asked about every blob; sent all but the one the head had.
        var expected = new[] { Digests.Compute("#define X 1\n"u8), Digests.ComputeOf(header), Digests.ComputeOf(src), Digests.ComputeOf(root) };
        Assert.Equal(expected.Append(Digests.Compute(source)).OrderBy(d => d.Hash), state.FindMissingAsked.OrderBy(d => d.Hash));
        Assert.Equal(expected.OrderBy(d => d.Hash), state.Uploaded.OrderBy(d => d.Hash));
    }

    [Fact]
    public async Task Submitting_an_unchanged_graph_again_is_the_same_graph_and_uploads_nothing()
    {
        await using var head = await FakeGraphHead.StartAsync(new FakeGraphHead.FakeState());
        var (first, _, firstError) = await SubmitAsync(head, watch: false);
        var uploads = head.State.Uploaded.Count();
        var (second, stdout, secondError) = await SubmitAsync(head, watch: false);
        Assert.True(first == 0 && second == 0, firstError + secondError);
        var ids = head.State.Submitted.Select(s => s.GraphId).ToList();
        Assert.Equal(ids[0], ids[1]);
        Assert.Contains("already submitted", stdout, StringComparison.Ordinal);
        Assert.Contains("uploaded 0 of 5 blobs", stdout, StringComparison.Ordinal);
        Assert.Equal(uploads, head.State.Uploaded.Count());

        // A changed input is another graph.
        File.AppendAllText(_dir.Combine("include", "x.h"), "#define Y 2\n");
        await SubmitAsync(head, watch: false);
        Assert.NotEqual(ids[0], head.State.Submitted.Last().GraphId);
    }

    [Fact]
    public async Task A_graph_id_given_on_the_command_line_wins_over_the_default()
    {
        await using var head = await FakeGraphHead.StartAsync(new FakeGraphHead.FakeState());
        var (code, stdout, stderr) = await SubmitAsync(head, watch: false, graphId: "nightly-42");
        Assert.True(code == 0, stderr);
        Assert.Equal("nightly-42", Assert.Single(head.State.Submitted).GraphId);
        Assert.StartsWith("graph nightly-42 submitted", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Blobs_larger_than_a_batch_are_streamed_and_batches_stay_within_the_heads_limit()
    {
        const int limit = 4096;
        var random = new Random(7);
        var big = new byte[20_000];
        random.NextBytes(big);
        File.WriteAllBytes(_dir.Combine("include", "big.bin"), big);
        for (var i = 0; i < 10; i++)
        {
            var small = new byte[1000];
            random.NextBytes(small);
            File.WriteAllBytes(_dir.Combine("include", $"h{i}.h"), small);
        }

        await using var head = await FakeGraphHead.StartAsync(new FakeGraphHead.FakeState { MaxBatchTotalSizeBytes = limit });
        var (code, _, stderr) = await SubmitAsync(head, watch: false);

        Assert.True(code == 0, stderr);
        Assert.Equal([Digests.Compute(big)], head.State.Streamed);
        Assert.All(head.State.BatchSizes, size => Assert.True(size <= limit, $"a batch of {size} bytes"));
        Assert.True(head.State.Batches.Count >= 3);
        var request = Assert.Single(head.State.Submitted);
        Assert.True(head.State.Blobs.ContainsKey(request.Nodes[0].InputRootDigest));
        Assert.Equal(16, head.State.Uploaded.Count());
    }

    [Fact]
    public async Task A_watch_that_loses_its_stream_resumes_after_the_last_change_and_shows_each_change_once()
    {
        var state = new FakeGraphHead.FakeState { BreakFirstWatchAfter = 3 };
        state.Script.AddRange(
        [
            Change("compile", GraphNodePhase.Queued, 1, new GraphCounts { Queued = 1, Waiting = 1 }),
            Change("compile", GraphNodePhase.Running, 2, new GraphCounts { Running = 1, Waiting = 1 }),
            Change("compile", GraphNodePhase.Completed, 3, new GraphCounts { Completed = 1, Waiting = 1 }),
            Change("link", GraphNodePhase.Queued, 4, new GraphCounts { Completed = 1, Queued = 1 }),
            Change("link", GraphNodePhase.Running, 5, new GraphCounts { Completed = 1, Running = 1 }),
            Change("link", GraphNodePhase.Cached, 6, new GraphCounts { Completed = 1, Cached = 1 }, finished: true),
        ]);
        state.Final = Status(new GraphCounts { Completed = 1, Cached = 1 }, Node("compile", GraphNodePhase.Completed, 3), Node("link", GraphNodePhase.Cached, 6));
        await using var head = await FakeGraphHead.StartAsync(state);

        var (code, stdout, stderr) = await SubmitAsync(head, watch: true);

        Assert.True(code == 0, stderr);
        Assert.Equal([0L, 3L], state.WatchedAfter);
        var lines = stdout.Split('\n');
        string[] changes = ["[0/2] compile queued", "[0/2] compile running", "[1/2] compile completed", "[1/2] link queued", "[1/2] link running", "[2/2] link cached"];
        Assert.Equal(changes, lines.Where(l => l.StartsWith('[')));
        Assert.Contains("resuming after change 3", stderr, StringComparison.Ordinal);
        Assert.Contains("cache hits", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_watch_whose_head_goes_away_resumes_on_another_head()
    {
        var state = new FakeGraphHead.FakeState { HoldFirstWatchAfter = 2 };
        state.Script.AddRange(
        [
            Change("compile", GraphNodePhase.Running, 1, new GraphCounts { Running = 1, Waiting = 1 }),
            Change("compile", GraphNodePhase.Completed, 2, new GraphCounts { Completed = 1, Waiting = 1 }),
            Change("link", GraphNodePhase.Running, 3, new GraphCounts { Completed = 1, Running = 1 }),
            Change("link", GraphNodePhase.Completed, 4, new GraphCounts { Completed = 2 }, finished: true),
        ]);
        state.Final = Status(new GraphCounts { Completed = 2 }, Node("compile", GraphNodePhase.Completed, 2), Node("link", GraphNodePhase.Completed, 4));
        var first = await FakeGraphHead.StartAsync(state);
        await using var second = await FakeGraphHead.StartAsync(state);
        var output = new WatchedWriter("[1/2] compile completed");
        var error = new StringWriter();
        var settings = new SubmitSettings(_dir.Combine("graph.json"), [first.Endpoint, second.Endpoint], Watch: true, GraphId: null, Json: false, Live: false);
        var run = GraphSubmission.RunAsync(settings, output, error, connection: null, CancellationToken.None);

        // The first head sent two changes and holds its stream open; once the client has shown both (sent is not yet
        // read), the head goes away, connection and all.
        await state.FirstWatchHeld.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await output.Seen.WaitAsync(TimeSpan.FromSeconds(30));
        await first.DisposeAsync();
        var code = await run.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(code == 0, error.ToString());
        Assert.Equal([first.Endpoint, second.Endpoint], state.WatchedOn);
        Assert.Equal([0L, 2L], state.WatchedAfter);
        string[] changes = ["[0/2] compile running", "[1/2] compile completed", "[1/2] link running", "[2/2] link completed"];
        Assert.Equal(changes, output.ToString().Split('\n').Where(l => l.StartsWith('[')));
        Assert.Single(error.ToString().Split('\n'), l => l.Contains("resuming after change 2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Json_prints_the_final_graph_status_and_nothing_else()
    {
        var state = new FakeGraphHead.FakeState();
        state.Script.Add(Change("compile", GraphNodePhase.Completed, 1, new GraphCounts { Completed = 2 }, finished: true));
        state.Final = Status(new GraphCounts { Completed = 2 }, Node("compile", GraphNodePhase.Completed, 1), Node("link", GraphNodePhase.Completed, 2));
        await using var head = await FakeGraphHead.StartAsync(state);

        var (code, stdout, stderr) = await SubmitAsync(head, watch: true, json: true);

        Assert.True(code == 0, stderr);
        Assert.Equal(state.Final, JsonParser.Default.Parse<GraphStatus>(stdout));
    }

    [Fact]
    public async Task A_failed_node_makes_rh_exit_non_zero_with_its_failure_and_the_tail_of_its_stderr()
    {
        var state = new FakeGraphHead.FakeState();
        var stderrLog = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(1, 30).Select(i => $"a.c:{i}: error: number {i}\n")));
        var stderrDigest = Digests.Compute(stderrLog);
        state.Blobs[stderrDigest] = ByteString.CopyFrom(stderrLog);
        var failed = Node("compile", GraphNodePhase.Failed, 2);
        failed.Failure = "exit code 1";
        failed.Result = new ActionResult { ExitCode = 1, StderrDigest = stderrDigest };
        var dependant = Node("link", GraphNodePhase.Failed, 3);
        dependant.Failure = "node compile failed";
        state.Script.AddRange(
        [
            Change("compile", GraphNodePhase.Running, 1, new GraphCounts { Running = 1, Waiting = 1 }),
            new GraphEvent { Node = failed, Counts = new GraphCounts { Failed = 1, Waiting = 1 } },
            new GraphEvent { Node = dependant, Counts = new GraphCounts { Failed = 2 }, GraphFinished = true },
        ]);
        state.Final = Status(new GraphCounts { Failed = 2 }, failed, dependant);
        await using var head = await FakeGraphHead.StartAsync(state);

        // As a user runs it: its own process, stdout not a terminal.
        var (code, stdout, stderr) = await RhProcess.RunAsync("submit", _dir.Combine("graph.json"), "--watch", "--endpoint", head.Endpoint);

        Assert.Equal(1, code);
        Assert.Contains("[1/2] compile failed: exit code 1", stdout, StringComparison.Ordinal);
        Assert.Contains("rh: node compile failed: exit code 1", stderr, StringComparison.Ordinal);
        Assert.Contains("rh: node link failed: node compile failed", stderr, StringComparison.Ordinal);
        for (var i = 1; i <= 30; i++)
        {
            // The last 20 lines, not more.
            Assert.Equal(i > 10, stderr.Contains($"a.c:{i}: error: number {i}\n", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_bad_graph_file_is_a_usage_failure_that_uploads_nothing()
    {
        await using var head = await FakeGraphHead.StartAsync(new FakeGraphHead.FakeState());
        File.WriteAllText(_dir.Combine("graph.json"), Graph.Replace("\"include/\"", "\"include/missing.h\"", StringComparison.Ordinal));
        var (code, _, stderr) = await RhProcess.RunAsync("submit", _dir.Combine("graph.json"), "--endpoint", head.Endpoint);
        Assert.Equal(2, code);
        Assert.Contains("node 'compile', inputs[1]: 'include/missing.h' is not a file or directory", stderr, StringComparison.Ordinal);
        Assert.Empty(head.State.FindMissingAsked);
        Assert.Empty(head.State.Submitted);
    }

    private async Task<(int Code, string Stdout, string Stderr)> SubmitAsync(FakeGraphHead head, bool watch, bool json = false, string? graphId = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var settings = new SubmitSettings(_dir.Combine("graph.json"), [head.Endpoint], watch, graphId, json, Live: false);
        var code = await GraphSubmission.RunAsync(settings, output, error, connection: null, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    private static GraphEvent Change(string id, GraphNodePhase phase, long sequence, GraphCounts counts, bool finished = false) =>
        new() { Node = Node(id, phase, sequence), Counts = counts, GraphFinished = finished };

    private static GraphNodeStatus Node(string id, GraphNodePhase phase, long sequence) => new() { Id = id, Phase = phase, Sequence = sequence };

    private static GraphStatus Status(GraphCounts counts, params GraphNodeStatus[] nodes) =>
        new() { GraphId = "g", Counts = counts, Nodes = { nodes }, SubmittedAtUnixMs = 1_000, FinishedAtUnixMs = 4_000, Sequence = nodes.Max(n => n.Sequence) };

    /// <summary>Output that says when a text has been written to it, so a test acts only after the client has shown it.</summary>
    private sealed class WatchedWriter(string text) : StringWriter
    {
        private readonly TaskCompletionSource _seen = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Seen => _seen.Task;

        public override void Write(char value)
        {
            base.Write(value);
            Check();
        }

        public override void Write(string? value)
        {
            base.Write(value);
            Check();
        }

        public override void Write(char[] buffer, int index, int count)
        {
            base.Write(buffer, index, count);
            Check();
        }

        public override void Write(ReadOnlySpan<char> buffer)
        {
            base.Write(buffer);
            Check();
        }

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            Check();
        }

        public override void WriteLine(ReadOnlySpan<char> buffer)
        {
            base.WriteLine(buffer);
            Check();
        }

        private void Check()
        {
            if (!_seen.Task.IsCompleted && GetStringBuilder().ToString().Contains(text, StringComparison.Ordinal))
            {
                _seen.TrySetResult();
            }
        }
    }
}
