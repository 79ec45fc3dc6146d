using Grpc.Core;
using RaftHead.Protocol.V1;
using RaftHead.Storage.Remote;
using GraphsClient = RaftHead.Protocol.V1.Graphs.GraphsClient;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// Follows WatchGraph to the graph's end. A stream that breaks (UNAVAILABLE, a dropped connection, or an end before
/// the graph finished) is opened again, on the next head if the current one failed, asking for the changes after the
/// last sequence number seen; a change already seen is never passed on twice. Giving up is
/// <see cref="HeadConnection"/>'s budget: a stretch with no head answering, counted afresh after each stream that
/// brought news.
/// </summary>
internal sealed class GraphWatcher
{
    private readonly HeadConnection _heads;

    public GraphWatcher(HeadConnection heads)
    {
        _heads = heads;
    }

    /// <param name="graphId">The graph to follow.</param>
    /// <param name="onEvent">Called once per node change, in order.</param>
    /// <param name="onResume">Called before a stream is opened again, with the sequence number it resumes after.</param>
    /// <param name="cancellationToken">Stops watching.</param>
    public async Task WatchAsync(string graphId, Action<GraphEvent> onEvent, Action<long>? onResume, CancellationToken cancellationToken)
    {
        long after = 0;
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        var finished = false;
        var opened = 0;
        long announced = -1;
        while (!finished)
        {
            await _heads.CallAsync(
                async (invoker, token) =>
                {
                    // Announced once per break, however many heads it takes to find one that answers.
                    if (opened++ > 0 && after != announced)
                    {
                        announced = after;
                        onResume?.Invoke(after);
                    }

                    var news = false;
                    try
                    {
                        using var call = new GraphsClient(invoker).WatchGraph(new WatchGraphRequest { GraphId = graphId, AfterSequence = after }, cancellationToken: token);
                        while (await call.ResponseStream.MoveNext(token).ConfigureAwait(false))
                        {
                            var change = call.ResponseStream.Current;
                            news = true;
                            if (change.Node is { } node)
                            {
                                after = Math.Max(after, node.Sequence);
                                if (seen.TryGetValue(node.Id, out var last) && last >= node.Sequence)
                                {
                                    continue;
                                }

                                seen[node.Id] = node.Sequence;
                            }

                            onEvent(change);
                            if (change.GraphFinished)
                            {
                                finished = true;
                                return true;
                            }
                        }
                    }
                    catch (RpcException e) when (news && Broken(e, token))
                    {
                        // Progress was made: resume at once, with a fresh budget for finding a head.
                        return true;
                    }
                    catch (RpcException e) when (Broken(e, token))
                    {
                        throw new RpcException(new Status(StatusCode.Unavailable, $"the watch broke: {e.Status.Detail}", e));
                    }

                    if (news)
                    {
                        return true;
                    }

                    // A clean end with nothing new: finished already (its last change seen before), or a head gone quiet.
                    var status = await new GraphsClient(invoker).GetGraphAsync(
                        new GetGraphRequest { GraphId = graphId },
                        new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: token)).ConfigureAwait(false);
                    if (status.FinishedAtUnixMs > 0)
                    {
                        finished = true;
                        return true;
                    }

                    throw new RpcException(new Status(StatusCode.Unavailable, "the watch ended before the graph finished"));
                },
                cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A stream lost to its head or its connection rather than refused.</summary>
    private static bool Broken(RpcException e, CancellationToken token) =>
        !token.IsCancellationRequested
        && (e.StatusCode is StatusCode.Unavailable or StatusCode.Aborted
            || (e.StatusCode is StatusCode.Internal or StatusCode.Unknown or StatusCode.Cancelled
                && e.Status.DebugException is IOException or HttpRequestException or HttpIOException));
}
