using System.Collections.Immutable;
using Grpc.Core;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// Action graphs. A node's run is an ordinary operation (submitted by <see cref="StartGraphNode"/>); the node follows
/// it through <see cref="SchedulerState.GraphLinks"/>: every operation change (<see cref="Put"/>) of a linked operation
/// is noted, and after the command the nodes catch up (<see cref="FollowTouchedOperations"/>), so the commands that
/// move operations (leases, completions, failures, cancels, dead workers) need no graph code of their own.
/// </summary>
internal sealed partial class CommandApplier
{
    private List<string>? _touched;

    private SchedulerResult SubmitGraph(SubmitGraph submit)
    {
        if (submit.Graph is null)
        {
            return Error(SchedulerResultCode.InvalidArgument, "graph is missing");
        }

        if (GraphRules.Validate(submit.Graph, _limits) is { } invalid)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (_s.FindGraph(submit.Graph.GraphId) is { } earlier)
        {
            return earlier.Request.Equals(submit.Graph)
                ? Ok(new SchedulerResult { SubmitGraph = new SubmitGraphOutcome { Duplicate = true } })
                : Error(SchedulerResultCode.InvalidArgument, $"graph_id {submit.Graph.GraphId} was already used for another graph");
        }

        PutGraph(GraphRecord.Create(submit.Graph, submit.SubmittedAtUnixMs, _index));
        return Ok(new SchedulerResult { SubmitGraph = new SubmitGraphOutcome() });
    }

    private SchedulerResult StartGraphNode(StartGraphNode start)
    {
        if (start.Submit is null)
        {
            return Error(SchedulerResultCode.InvalidArgument, "submit is missing");
        }

        if (FindReadyNode(start.GraphId, start.NodeId, start.Runs, out var graph, out var index) is { } refused)
        {
            return refused;
        }

        var node = graph.Nodes[index];

        if (start.Submit.InstanceName != graph.Request.InstanceName)
        {
            return Error(SchedulerResultCode.InvalidArgument, $"submit.instance_name '{start.Submit.InstanceName}' is not the graph's instance '{graph.Request.InstanceName}'");
        }

        var submitted = Submit(start.Submit);
        if (submitted.Code != SchedulerResultCode.Ok)
        {
            return submitted;
        }

        var name = submitted.Submit.OperationName;
        var started = GraphRecord.Copy(node);
        started.Runs++;
        started.OperationName = name;
        started.ActionDigest = start.Submit.ActionDigest;
        started.Result = null;
        started.Failure = "";
        started.Phase = GraphNodePhase.Queued;
        PutGraph(graph.WithNode(index, started, start.Submit.SubmittedAtUnixMs));
        var reference = new GraphNodeRef(graph.Id, index);
        var links = _s.GraphLinks.GetValueOrDefault(name, ImmutableArray<GraphNodeRef>.Empty);
        _s = _s with { GraphLinks = _s.GraphLinks.SetItem(name, Insert(links, reference)) };

        // Joined, answered from the cache or already finished: the node takes the operation's phase now.
        Follow(_s.Operations[name], [reference]);
        return submitted;
    }

    private SchedulerResult FailGraphNode(FailGraphNode fail)
    {
        if (CheckReason(fail.Reason) is { } invalid)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (FindReadyNode(fail.GraphId, fail.NodeId, fail.Runs, out var graph, out var index) is { } refused)
        {
            return refused;
        }

        var node = graph.Nodes[index];

        var failed = GraphRecord.Copy(node);
        failed.Phase = GraphNodePhase.Failed;
        failed.Failure = fail.Reason;
        graph = graph.WithNode(index, failed, fail.AtUnixMs);
        PutGraph(FailDependants(graph, index, fail.AtUnixMs));
        return Ok();
    }

    private SchedulerResult RegenerateGraphInputs(RegenerateGraphInputs regenerate)
    {
        if (CheckReason(regenerate.Reason) is { } invalid)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (FindReadyNode(regenerate.GraphId, regenerate.NodeId, regenerate.Runs, out var graph, out var index) is { } refused)
        {
            return refused;
        }

        var node = graph.Nodes[index];

        if (regenerate.Producers.Count == 0)
        {
            return Error(SchedulerResultCode.InvalidArgument, "producers is empty");
        }

        var producers = new List<int>(regenerate.Producers.Count);
        foreach (var id in regenerate.Producers)
        {
            if (!graph.Topology.IndexOf.TryGetValue(id, out var producer) || Array.IndexOf(graph.Topology.Producers[index], producer) < 0)
            {
                return Error(SchedulerResultCode.InvalidArgument, $"node '{id}' is not a producer of node '{node.Id}'");
            }

            if (!producers.Contains(producer))
            {
                producers.Add(producer);
            }
        }

        foreach (var producer in producers)
        {
            if (graph.Nodes[producer].Runs >= _limits.GraphNodeRunsMax)
            {
                // Lost again and again: give up on the node rather than loop.
                var failed = GraphRecord.Copy(node);
                failed.Phase = GraphNodePhase.Failed;
                failed.Failure = Invariant($"the outputs of node '{graph.Nodes[producer].Id}' were lost after {graph.Nodes[producer].Runs} run(s): {regenerate.Reason}");
                PutGraph(FailDependants(graph.WithNode(index, failed, regenerate.AtUnixMs), index, regenerate.AtUnixMs));
                return Ok();
            }
        }

        foreach (var producer in producers)
        {
            graph = Regenerate(graph, producer, regenerate.Reason, regenerate.AtUnixMs);
        }

        PutGraph(graph);
        return Ok();
    }

    /// <summary>
    /// A succeeded node runs again: ready (or waiting, when one of its own producers is being regenerated too), and each
    /// of its consumers that was ready waits for it again.
    /// </summary>
    private static GraphRecord Regenerate(GraphRecord graph, int producer, string reason, long atUnixMs)
    {
        var node = graph.Nodes[producer];
        if (!GraphRecord.Succeeded(node.Phase))
        {
            return graph;
        }

        var again = GraphRecord.Copy(node);
        again.Phase = graph.ProducersSucceeded(producer) ? GraphNodePhase.Ready : GraphNodePhase.Waiting;
        again.Result = null;
        again.Failure = "running again: " + reason;
        graph = graph.WithNode(producer, again, atUnixMs);
        foreach (var consumer in graph.Topology.Dependants[producer])
        {
            if (graph.Nodes[consumer].Phase == GraphNodePhase.Ready)
            {
                var waiting = GraphRecord.Copy(graph.Nodes[consumer]);
                waiting.Phase = GraphNodePhase.Waiting;
                graph = graph.WithNode(consumer, waiting, atUnixMs);
            }
        }

        return graph;
    }

    private SchedulerResult CancelGraph(CancelGraph cancel)
    {
        if (cancel.Reason.Length > _limits.ReasonLengthMax)
        {
            return Error(SchedulerResultCode.InvalidArgument, Invariant($"reason is {cancel.Reason.Length} characters long; the most is {_limits.ReasonLengthMax}"));
        }

        if (_s.FindGraph(cancel.GraphId) is not { } graph)
        {
            return Error(SchedulerResultCode.NotFound, "no graph " + cancel.GraphId);
        }

        if (graph.Done)
        {
            return Error(SchedulerResultCode.AlreadyFinished, $"graph {cancel.GraphId} already finished");
        }

        var reason = cancel.Reason.Length > 0 ? cancel.Reason : "the graph was cancelled";

        // An operation another client or graph also waits for keeps running: the cancel is this graph's, not theirs.
        var ours = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            if (node.Phase is GraphNodePhase.Queued or GraphNodePhase.Running)
            {
                ours[node.OperationName] = ours.GetValueOrDefault(node.OperationName) + 1;
            }
        }

        var ended = new List<string>();
        foreach (var (name, count) in ours)
        {
            if (_s.GraphLinks[name].Length == count && _s.Operations[name].RequestIds.Count <= count)
            {
                ended.Add(name);
            }
        }

        // Nodes first, so the operations ended below have no node left to report to.
        var cancelled = 0u;
        for (var i = 0; i < graph.Nodes.Count; i++)
        {
            var node = graph.Nodes[i];
            if (GraphRecord.IsFinished(node.Phase))
            {
                continue;
            }

            if (node.Phase is GraphNodePhase.Queued or GraphNodePhase.Running)
            {
                Unlink(node.OperationName, new GraphNodeRef(graph.Id, i));
            }

            var next = GraphRecord.Copy(node);
            next.Phase = GraphNodePhase.Cancelled;
            next.Failure = reason;
            graph = graph.WithNode(i, next, cancel.AtUnixMs);
            cancelled++;
        }

        // Sorted, so every replica ends them in the same order.
        ended.Sort(StringComparer.Ordinal);
        PutGraph(graph);
        foreach (var name in ended)
        {
            var operation = _s.Operations[name];
            if (!SchedulerState.IsFinished(operation.Phase))
            {
                End(operation, "cancelled: " + reason, cancel.AtUnixMs, OperationPhase.Cancelled, StatusCode.Cancelled, reason);
            }
        }

        return Ok(new SchedulerResult { CancelGraph = new CancelGraphOutcome { CancelledNodes = cancelled } });
    }

    /// <summary>Removes graphs that finished before <paramref name="finishedBeforeUnixMs"/>; returns how many.</summary>
    private uint PruneGraphs(long finishedBeforeUnixMs)
    {
        var graphs = _s.Graphs;
        var pruned = 0u;
        foreach (var graph in _s.Graphs.Values)
        {
            if (graph.Done && graph.FinishedAtUnixMs < finishedBeforeUnixMs)
            {
                graphs = graphs.Remove(graph.Id);
                pruned++;
            }
        }

        if (pruned > 0)
        {
            _s = _s with { Graphs = graphs };
            _changed = true;
        }

        return pruned;
    }

    // ---------------------------------------------------------------- nodes following their operations

    /// <summary>Called by <see cref="Put"/>: an operation some graph node follows changed in this command.</summary>
    private void NoteTouched(OperationState operation)
    {
        if (!_s.GraphLinks.IsEmpty && _s.GraphLinks.ContainsKey(operation.Name))
        {
            (_touched ??= []).Add(operation.Name);
        }
    }

    /// <summary>Brings the nodes of every operation changed by the command up to date with it.</summary>
    private void FollowTouchedOperations()
    {
        if (_touched is null)
        {
            return;
        }

        // Follow may not touch operations, so the list does not grow while it is walked.
        foreach (var name in _touched)
        {
            if (_s.GraphLinks.TryGetValue(name, out var links))
            {
                Follow(_s.Operations[name], links);
            }
        }

        _touched = null;
    }

    private void Follow(OperationState operation, ImmutableArray<GraphNodeRef> links)
    {
        var (phase, failure) = NodeOutcome(operation);
        var at = operation.FinishedAtUnixMs != 0 ? operation.FinishedAtUnixMs : operation.SubmittedAtUnixMs;
        foreach (var link in links)
        {
            var graph = _s.Graphs[link.GraphId];
            var node = graph.Nodes[link.Node];
            if (node.Phase == phase)
            {
                continue;
            }

            var next = GraphRecord.Copy(node);
            next.Phase = phase;
            if (GraphRecord.IsFinished(phase))
            {
                Unlink(operation.Name, link);
                next.Result = operation.Result;
                next.Failure = failure;
            }

            graph = graph.WithNode(link.Node, next, at);
            if (GraphRecord.Succeeded(phase))
            {
                graph = ReleaseDependants(graph, link.Node, at);
            }
            else if (phase == GraphNodePhase.Failed)
            {
                graph = FailDependants(graph, link.Node, at);
            }

            PutGraph(graph);
        }
    }

    /// <summary>The phase a node running <paramref name="operation"/> is in, and why it failed when it did.</summary>
    private static (GraphNodePhase Phase, string Failure) NodeOutcome(OperationState operation)
    {
        switch (operation.Phase)
        {
            case OperationPhase.Queued:
                return (GraphNodePhase.Queued, "");
            case OperationPhase.Leased:
                return (GraphNodePhase.Running, "");
            case OperationPhase.Completed when operation.Status is { Code: not 0 } status:
                return (GraphNodePhase.Failed, Invariant($"{(StatusCode)status.Code}: {status.Message}"));
            case OperationPhase.Completed when operation.Result.ExitCode != 0:
                return (GraphNodePhase.Failed, Invariant($"exit code {operation.Result.ExitCode}"));
            case OperationPhase.Completed:
                return (operation.CachedResult ? GraphNodePhase.Cached : GraphNodePhase.Completed, "");
            case OperationPhase.Cancelled:
                return (GraphNodePhase.Failed, "its operation was cancelled: " + operation.Status?.Message);
            default:
                return (GraphNodePhase.Failed, operation.Status?.Message ?? operation.Phase.ToString());
        }
    }

    /// <summary>Makes ready each consumer of <paramref name="producer"/> whose producers have all succeeded.</summary>
    private static GraphRecord ReleaseDependants(GraphRecord graph, int producer, long atUnixMs)
    {
        foreach (var consumer in graph.Topology.Dependants[producer])
        {
            if (graph.Nodes[consumer].Phase == GraphNodePhase.Waiting && graph.ProducersSucceeded(consumer))
            {
                var ready = GraphRecord.Copy(graph.Nodes[consumer]);
                ready.Phase = GraphNodePhase.Ready;
                graph = graph.WithNode(consumer, ready, atUnixMs);
            }
        }

        return graph;
    }

    /// <summary>Fails every node that depends, directly or not, on the failed <paramref name="failed"/>, naming it as the cause.</summary>
    private static GraphRecord FailDependants(GraphRecord graph, int failed, long atUnixMs)
    {
        var cause = $"not run: node '{graph.Nodes[failed].Id}' it depends on failed";
        var pending = new Stack<int>(graph.Topology.Dependants[failed]);
        while (pending.Count > 0)
        {
            var consumer = pending.Pop();
            var node = graph.Nodes[consumer];
            if (GraphRecord.IsFinished(node.Phase) || node.Phase is GraphNodePhase.Queued or GraphNodePhase.Running)
            {
                continue;
            }

            var next = GraphRecord.Copy(node);
            next.Phase = GraphNodePhase.Failed;
            next.Failure = cause;
            graph = graph.WithNode(consumer, next, atUnixMs);
            foreach (var further in graph.Topology.Dependants[consumer])
            {
                pending.Push(further);
            }
        }

        return graph;
    }

    /// <summary>
    /// Links stay sorted (graph id, then node), the order a restored snapshot rebuilds them in: the nodes of one
    /// operation are followed in this order, which decides their sequence numbers on every replica alike.
    /// </summary>
    private static ImmutableArray<GraphNodeRef> Insert(ImmutableArray<GraphNodeRef> links, GraphNodeRef link)
    {
        var at = 0;
        while (at < links.Length && Compare(links[at], link) < 0)
        {
            at++;
        }

        return links.Insert(at, link);

        static int Compare(GraphNodeRef a, GraphNodeRef b)
        {
            var byGraph = string.CompareOrdinal(a.GraphId, b.GraphId);
            return byGraph != 0 ? byGraph : a.Node.CompareTo(b.Node);
        }
    }

    /// <summary>Removes one node's link to an operation.</summary>
    private void Unlink(string operationName, GraphNodeRef link)
    {
        var links = _s.GraphLinks[operationName].Remove(link);
        _s = _s with { GraphLinks = links.IsEmpty ? _s.GraphLinks.Remove(operationName) : _s.GraphLinks.SetItem(operationName, links) };
    }

    /// <summary>The node, when it is ready after <paramref name="runs"/> runs (what its proposer saw); else why not (STALE, NOT_FOUND).</summary>
    private SchedulerResult? FindReadyNode(string graphId, string nodeId, uint runs, out GraphRecord graph, out int index)
    {
        if (FindGraphNode(graphId, nodeId, out graph, out index) is { } notFound)
        {
            return notFound;
        }

        var node = graph.Nodes[index];
        return node.Phase == GraphNodePhase.Ready && node.Runs == runs
            ? null
            : Error(SchedulerResultCode.Stale, Invariant($"node '{node.Id}' of graph {graph.Id} is {node.Phase} after {node.Runs} run(s), not ready after {runs}"));
    }

    private SchedulerResult? FindGraphNode(string graphId, string nodeId, out GraphRecord graph, out int index)
    {
        index = -1;
        graph = _s.FindGraph(graphId)!;
        if (graph is null)
        {
            return Error(SchedulerResultCode.NotFound, "no graph " + graphId);
        }

        return graph.Topology.IndexOf.TryGetValue(nodeId, out index) ? null : Error(SchedulerResultCode.NotFound, $"graph {graphId} has no node '{nodeId}'");
    }

    private void PutGraph(GraphRecord graph)
    {
        _s = _s with { Graphs = _s.Graphs.SetItem(graph.Id, graph) };
        _changed = true;
    }
}
