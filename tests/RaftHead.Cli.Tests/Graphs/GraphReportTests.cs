using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Cli.Graphs;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Storage.Remote;
using Spectre.Console;

namespace RaftHead.Cli.Tests.Graphs;

/// <summary>What a person sees of a graph: the live display's counts, and a long stderr's tail read without the whole log.</summary>
public sealed class GraphReportTests
{
    [Fact]
    public async Task A_long_stderr_is_read_from_its_end_and_its_last_lines_shown_whole()
    {
        var state = new FakeGraphHead.FakeState();
        var log = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(1, 2000).Select(i => $"warning {i}: something long enough to fill a line\n")));
        var digest = Digests.Compute(log);
        state.Blobs[digest] = ByteString.CopyFrom(log);
        await using var head = await FakeGraphHead.StartAsync(state);
        using var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        var cas = new RemoteBlobStore(new HeadConnection([head.Endpoint], channels));

        var tail = await GraphReport.StderrTailAsync(new ActionResult { ExitCode = 1, StderrDigest = digest }, "", cas, CancellationToken.None);

        Assert.Equal(Enumerable.Range(1981, 20).Select(i => $"warning {i}: something long enough to fill a line"), tail);
        var offset = Assert.Single(state.ReadOffsets);
        Assert.True(offset > 0 && log.Length - offset <= 16 * 1024, $"read from {offset} of {log.Length}");
    }

    [Fact]
    public void The_summary_plain_off_a_terminal_names_the_slowest_nodes_that_ran_in_this_build_only()
    {
        static GraphNodeStatus Node(string id, GraphNodePhase phase, int seconds) => new()
        {
            Id = id,
            Phase = phase,
            Result = new ActionResult
            {
                ExecutionMetadata = new ExecutedActionMetadata
                {
                    ExecutionStartTimestamp = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch),
                    ExecutionCompletedTimestamp = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch.AddSeconds(seconds)),
                },
            },
        };
        var status = new GraphStatus
        {
            GraphId = "g",
            Counts = new GraphCounts { Completed = 1, Cached = 1 },
            Nodes = { Node("compiled", GraphNodePhase.Completed, 2), Node("from-cache", GraphNodePhase.Cached, 30) },
        };
        var output = new StringWriter();
        GraphReport.Summary(GraphSubmission.Plain(output), HumanOutput.Plain, status);

        var text = output.ToString();
        Assert.Contains("slowest: compiled 2.0s", text, StringComparison.Ordinal);
        Assert.DoesNotContain("from-cache", text, StringComparison.Ordinal);
        Assert.DoesNotContain("─", text, StringComparison.Ordinal);
        Assert.Contains("cache hits", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_live_display_shows_done_cached_running_queued_and_failed_counts()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.Standard,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(output),
        });
        var progress = new LiveGraphProgress(console, TimeProvider.System);

        await progress.RunAsync(3, (onEvent, onResume) =>
        {
            onEvent(new GraphEvent { Node = new GraphNodeStatus { Id = "a", Phase = GraphNodePhase.Running, Sequence = 1 }, Counts = new GraphCounts { Running = 1, Waiting = 2 } });
            onResume(1);
            onEvent(new GraphEvent { Node = new GraphNodeStatus { Id = "a", Phase = GraphNodePhase.Cached, Sequence = 2 }, Counts = new GraphCounts { Cached = 1, Queued = 1, Failed = 1 } });
            return Task.CompletedTask;
        });

        var screen = output.ToString();
        Assert.Contains("done 1/3 (cached 1), running 0, queued 1, ", screen, StringComparison.Ordinal);
        Assert.Contains("failed 1", screen, StringComparison.Ordinal);
        Assert.Contains("ETA", screen, StringComparison.Ordinal);
        Assert.Contains("resumed 1x", screen, StringComparison.Ordinal);
    }
}
