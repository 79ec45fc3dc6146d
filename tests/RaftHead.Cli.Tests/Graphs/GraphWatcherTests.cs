using Microsoft.Extensions.Time.Testing;
using RaftHead.Cli.Graphs;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Storage.Remote;

namespace RaftHead.Cli.Tests.Graphs;

/// <summary>The watch's patience: a long-running graph whose stream breaks late still resumes.</summary>
public sealed class GraphWatcherTests
{
    [Fact]
    public async Task A_stream_that_breaks_after_running_longer_than_the_unavailable_budget_still_resumes()
    {
        var state = new FakeGraphHead.FakeState { BreakFirstWatchAfter = 2 };
        for (var sequence = 1; sequence <= 4; sequence++)
        {
            state.Script.Add(new GraphEvent
            {
                Node = new GraphNodeStatus { Id = $"n{sequence}", Phase = GraphNodePhase.Completed, Sequence = sequence },
                Counts = new GraphCounts { Completed = (uint)sequence },
                GraphFinished = sequence == 4,
            });
        }

        await using var head = await FakeGraphHead.StartAsync(state);
        var time = new FakeTimeProvider();
        using var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        var heads = new HeadConnection([head.Endpoint], channels, new HeadConnectionOptions { UnavailableBudgetMs = 1_000 }, time);
        var seen = new List<long>();

        await new GraphWatcher(heads).WatchAsync(
            "g",
            change =>
            {
                seen.Add(change.Node.Sequence);
                // The graph has been running for a minute, far beyond the budget for finding a head, when the stream breaks.
                time.Advance(TimeSpan.FromMinutes(1));
            },
            onResume: null,
            CancellationToken.None);

        Assert.Equal([1L, 2L, 3L, 4L], seen);
        Assert.Equal([0L, 2L], state.WatchedAfter);
    }
}
