using System.Diagnostics;
using Grpc.Core;
using RaftHead.Cli.Graphs;
using RaftHead.Protocol.V1;
using RaftHead.Storage.Remote;
using GraphsClient = RaftHead.Protocol.V1.Graphs.GraphsClient;

namespace RaftHead.Cli.Demo;

/// <summary>
/// One build of the demo's graph, by the steps <c>rh submit --watch</c> takes: the request from the graph, the
/// missing inputs uploaded, SubmitGraph, the watch (resumed on another head when its head goes away), GetGraph.
/// </summary>
internal static class DemoBuild
{
    private const int CallTimeoutMs = 30_000;

    /// <param name="name">cold or warm: names the build in the report.</param>
    /// <param name="graphId">A graph id of its own: the same graph id would answer the first build's submission.</param>
    /// <param name="progress">Shows the watch as it goes; null shows nothing.</param>
    /// <param name="onEvent">Called with each node change after the display.</param>
    public static async Task<(BuildFacts Facts, GraphStatus Final)> RunAsync(
        HeadConnection heads, ResolvedGraph graph, string name, string graphId, IGraphProgress? progress, Action<GraphEvent>? onEvent, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var (request, blobs) = await GraphRequestBuilder.BuildAsync(graph, graphId, cancellationToken).ConfigureAwait(false);
        var upload = await new CasUploader(heads, request.InstanceName).UploadAsync(blobs, cancellationToken).ConfigureAwait(false);
        await heads.CallAsync(
            (invoker, token) => new GraphsClient(invoker).SubmitGraphAsync(request, Options(token)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);

        var resumes = 0;
        var watcher = new GraphWatcher(heads);
        Task Watch(Action<GraphEvent> show, Action<long> resumed) => watcher.WatchAsync(
            request.GraphId,
            change =>
            {
                show(change);
                onEvent?.Invoke(change);
            },
            after =>
            {
                resumes++;
                resumed(after);
            },
            cancellationToken);
        if (progress is null)
        {
            await Watch(_ => { }, _ => { }).ConfigureAwait(false);
        }
        else
        {
            await progress.RunAsync(request.Nodes.Count, Watch).ConfigureAwait(false);
        }

        var final = await heads.CallAsync(
            (invoker, token) => new GraphsClient(invoker).GetGraphAsync(new GetGraphRequest { GraphId = request.GraphId }, Options(token)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        var wallMs = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var counts = final.Counts ?? new GraphCounts();
        long submissions = 0;
        foreach (var node in final.Nodes)
        {
            submissions += node.Runs;
        }

        var facts = new BuildFacts(
            name, request.GraphId, request.Nodes.Count, (int)counts.Completed, (int)counts.Cached, (int)counts.Failed, (int)counts.Cancelled, submissions, wallMs,
            upload.Blobs, upload.Missing, upload.BytesSent, resumes, heads.Current);
        return (facts, final);
    }

    private static CallOptions Options(CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow.AddMilliseconds(CallTimeoutMs), cancellationToken: cancellationToken);
}
