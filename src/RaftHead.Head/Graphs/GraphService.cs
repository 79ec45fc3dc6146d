using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Head.Execution;
using RaftHead.Head.Frontend;
using RaftHead.Head.Reapi;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Graphs;

/// <summary>
/// The Graphs API on every head: a submission is checked here (shape, platforms, size, the nodes' own input trees in
/// the CAS) and then proposed as one entry, forwarded to the leader like any write; reads and watches answer from this
/// replica's applied state, after a read barrier when it does not know the graph yet, so a graph submitted through one
/// head is found on any other.
/// </summary>
public sealed class GraphService : RaftHead.Protocol.V1.Graphs.GraphsBase
{
    private readonly SchedulerFrontend _frontend;
    private readonly SchedulerLimits _limits;
    private readonly int _missingListedMax;

    public GraphService(SchedulerFrontend frontend, SchedulerLimits? limits = null, ExecutionOptions? execution = null)
    {
        ArgumentNullException.ThrowIfNull(frontend);
        _frontend = frontend;
        _limits = limits ?? new SchedulerLimits();
        _missingListedMax = (execution ?? new ExecutionOptions()).MissingBlobsListedMax;
    }

    public override async Task<SubmitGraphResponse> SubmitGraph(SubmitGraphRequest request, ServerCallContext context)
    {
        ReapiErrors.CheckInstanceName(request.InstanceName);
        if (GraphRules.Validate(request, _limits) is { } invalid)
        {
            throw ReapiErrors.InvalidArgument("nodes", invalid);
        }

        var size = request.CalculateSize();
        if (size > _frontend.Options.GraphBytesMax)
        {
            throw ReapiErrors.InvalidArgument("nodes", $"the graph is {size} bytes; one graph is at most {_frontend.Options.GraphBytesMax} bytes: split the build into several graphs");
        }

        for (var i = 0; i < request.Nodes.Count; i++)
        {
            // Throws INVALID_ARGUMENT naming the node's field and the property.
            ResourceProperties.Split(request.Nodes[i].Platform ?? new Platform(), $"nodes[{i}].platform");
        }

        await CheckInputRootsAsync(request, context.CancellationToken).ConfigureAwait(false);
        var submit = new SubmitGraph { Graph = request, SubmittedAtUnixMs = _frontend.NowUnixMs };
        var result = await _frontend.ProposeAsync(new SchedulerCommand { SubmitGraph = submit }, context.CancellationToken).ConfigureAwait(false);
        var graph = _frontend.Log.Current.FindGraph(request.GraphId)
            ?? throw new RpcException(new Status(StatusCode.Unavailable, $"graph {request.GraphId} was stored but this head has not applied it yet; call GetGraph"));
        return new SubmitGraphResponse { Status = GraphViews.Status(graph), Duplicate = result.SubmitGraph.Duplicate };
    }

    public override async Task<GraphStatus> GetGraph(GetGraphRequest request, ServerCallContext context) =>
        GraphViews.Status(await FindAsync(request.GraphId, context.CancellationToken).ConfigureAwait(false));

    public override async Task WatchGraph(WatchGraphRequest request, IServerStreamWriter<GraphEvent> responseStream, ServerCallContext context)
    {
        if (request.AfterSequence < 0)
        {
            throw ReapiErrors.InvalidArgument("after_sequence", "is negative");
        }

        var graph = await FindAsync(request.GraphId, context.CancellationToken).ConfigureAwait(false);
        var sent = request.AfterSequence;
        var keepAlive = _frontend.Options.StreamKeepAliveMs > 0 ? TimeSpan.FromMilliseconds(_frontend.Options.StreamKeepAliveMs) : Timeout.InfiniteTimeSpan;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _frontend.Stopping);
        while (true)
        {
            var next = _frontend.Log.Changes.Next;
            graph = _frontend.Log.Current.FindGraph(request.GraphId) ?? graph;
            if (graph.Sequence > sent)
            {
                var counts = GraphViews.Counts(graph);
                var changed = GraphViews.ChangedAfter(graph, sent);
                for (var i = 0; i < changed.Count; i++)
                {
                    var last = i == changed.Count - 1;
                    await responseStream.WriteAsync(new GraphEvent { Node = changed[i], Counts = counts, GraphFinished = last && graph.Done }, context.CancellationToken).ConfigureAwait(false);
                }

                sent = graph.Sequence;
            }

            if (graph.Done)
            {
                return;
            }

            try
            {
                await next.WaitAsync(keepAlive, _frontend.Time, linked.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (_frontend.Stopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "This head is shutting down; watch again on another head with after_sequence set to the last sequence seen."));
            }
        }
    }

    public override async Task<CancelGraphResponse> CancelGraph(CancelGraphRequest request, ServerCallContext context)
    {
        if (request.Reason.Length > _limits.ReasonLengthMax)
        {
            throw ReapiErrors.InvalidArgument("reason", $"is {request.Reason.Length} characters long; the most is {_limits.ReasonLengthMax}");
        }

        var cancel = new CancelGraph { GraphId = request.GraphId, Reason = request.Reason, AtUnixMs = _frontend.NowUnixMs };
        var result = await _frontend.ProposeAsync(new SchedulerCommand { CancelGraph = cancel }, context.CancellationToken).ConfigureAwait(false);
        return new CancelGraphResponse { Cancelled = result.CancelGraph.CancelledNodes };
    }

    private async Task<GraphRecord> FindAsync(string graphId, CancellationToken cancellationToken)
    {
        if (_frontend.Log.Current.FindGraph(graphId) is { } graph)
        {
            return graph;
        }

        await _frontend.Log.ReadBarrierAsync(cancellationToken).ConfigureAwait(false);
        return _frontend.Log.Current.FindGraph(graphId)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"Graph '{graphId}' is not known (it finished long ago and was pruned, or was never submitted)."));
    }

    /// <summary>Each node's own input tree must be in the CAS before the graph is taken: FAILED_PRECONDITION listing the missing roots.</summary>
    private async Task CheckInputRootsAsync(SubmitGraphRequest request, CancellationToken cancellationToken)
    {
        var roots = new List<Digest>();
        var seen = new HashSet<Digest>();
        foreach (var node in request.Nodes)
        {
            if (node.InputRootDigest is { SizeBytes: > 0 } root && seen.Add(root))
            {
                roots.Add(root);
            }
        }

        if (roots.Count == 0)
        {
            return;
        }

        var missing = new List<Digest>();
        await _frontend.Blobs.FindMissingAsync(request.InstanceName, roots, missing, cancellationToken).ConfigureAwait(false);
        if (missing.Count == 0)
        {
            return;
        }

        var listed = new List<(Digest, string)>(missing.Count);
        foreach (var digest in missing)
        {
            var user = request.Nodes.First(n => digest.Equals(n.InputRootDigest));
            listed.Add((digest, $"the input root of node '{user.Id}'"));
        }

        throw ExecutionErrors.MissingBlobs(listed, _missingListedMax);
    }
}
