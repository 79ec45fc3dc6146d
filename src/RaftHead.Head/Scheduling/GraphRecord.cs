using System.Collections.Frozen;
using System.Collections.Immutable;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// One submitted action graph in the scheduler's state: the request as submitted (never changed) and each node's
/// progress. Immutable like the rest of <see cref="SchedulerState"/>: a node change makes a new record sharing the
/// request, the topology and every other node. <see cref="Ready"/> and <see cref="Unfinished"/> are derived.
/// </summary>
public sealed record GraphRecord
{
    public required SubmitGraphRequest Request { get; init; }

    public required GraphTopology Topology { get; init; }

    public long SubmittedAtUnixMs { get; init; }

    public long CreatedIndex { get; init; }

    /// <summary>0 while some node is not finished.</summary>
    public long FinishedAtUnixMs { get; init; }

    /// <summary>The sequence number of the graph's last node change.</summary>
    public long Sequence { get; init; }

    /// <summary>In the request's node order. Each is shared between versions and never mutated.</summary>
    public required ImmutableList<GraphNodeStatus> Nodes { get; init; }

    /// <summary>Derived: nodes whose inputs are complete and that wait for the leader to start them.</summary>
    public ImmutableSortedSet<int> Ready { get; init; } = ImmutableSortedSet<int>.Empty;

    /// <summary>Derived: nodes not yet completed, cached, failed or cancelled.</summary>
    public int Unfinished { get; init; }

    public string Id => Request.GraphId;

    public bool Done => Unfinished == 0;

    public static bool IsFinished(GraphNodePhase phase) =>
        phase is GraphNodePhase.Completed or GraphNodePhase.Cached or GraphNodePhase.Failed or GraphNodePhase.Cancelled;

    public static bool Succeeded(GraphNodePhase phase) => phase is GraphNodePhase.Completed or GraphNodePhase.Cached;

    /// <summary>True when every node that node <paramref name="index"/> takes outputs from has completed or was cached.</summary>
    public bool ProducersSucceeded(int index)
    {
        foreach (var producer in Topology.Producers[index])
        {
            if (!Succeeded(Nodes[producer].Phase))
            {
                return false;
            }
        }

        return true;
    }

    public GraphNodeStatus? FindNode(string nodeId) =>
        Topology.IndexOf.TryGetValue(nodeId, out var index) ? Nodes[index] : null;

    /// <summary>A new graph: nodes that take nothing from other nodes are ready at once; each node's first sequence number is its position + 1.</summary>
    internal static GraphRecord Create(SubmitGraphRequest request, long submittedAtUnixMs, long createdIndex)
    {
        var topology = GraphTopology.Of(request);
        var nodes = ImmutableList.CreateBuilder<GraphNodeStatus>();
        var ready = ImmutableSortedSet.CreateBuilder<int>();
        for (var i = 0; i < request.Nodes.Count; i++)
        {
            var phase = topology.Producers[i].Length == 0 ? GraphNodePhase.Ready : GraphNodePhase.Waiting;
            nodes.Add(new GraphNodeStatus { Id = request.Nodes[i].Id, Phase = phase, Sequence = i + 1 });
            if (phase == GraphNodePhase.Ready)
            {
                ready.Add(i);
            }
        }

        return new GraphRecord
        {
            Request = request,
            Topology = topology,
            SubmittedAtUnixMs = submittedAtUnixMs,
            CreatedIndex = createdIndex,
            Sequence = request.Nodes.Count,
            Nodes = nodes.ToImmutable(),
            Ready = ready.ToImmutable(),
            Unfinished = request.Nodes.Count,
        };
    }

    /// <summary>
    /// The record with node <paramref name="index"/> replaced by <paramref name="next"/>, stamped with the next sequence
    /// number; the graph finishes at <paramref name="atUnixMs"/> when this was its last unfinished node.
    /// </summary>
    internal GraphRecord WithNode(int index, GraphNodeStatus next, long atUnixMs)
    {
        var before = Nodes[index];
        var sequence = Sequence + 1;
        next.Sequence = sequence;
        // A regenerated node goes from finished back to unfinished.
        var unfinished = Unfinished + (IsFinished(before.Phase) ? 1 : 0) - (IsFinished(next.Phase) ? 1 : 0);
        var ready = Ready;
        if (before.Phase == GraphNodePhase.Ready && next.Phase != GraphNodePhase.Ready)
        {
            ready = ready.Remove(index);
        }
        else if (before.Phase != GraphNodePhase.Ready && next.Phase == GraphNodePhase.Ready)
        {
            ready = ready.Add(index);
        }

        return this with
        {
            Nodes = Nodes.SetItem(index, next),
            Sequence = sequence,
            Ready = ready,
            Unfinished = unfinished,
            FinishedAtUnixMs = unfinished == 0 ? atUnixMs : 0,
        };
    }

    /// <summary>A copy of a node's status to change (the result and digest are shared: they are never mutated).</summary>
    internal static GraphNodeStatus Copy(GraphNodeStatus node) => new()
    {
        Id = node.Id,
        Phase = node.Phase,
        OperationName = node.OperationName,
        ActionDigest = node.ActionDigest,
        Result = node.Result,
        Failure = node.Failure,
        Sequence = node.Sequence,
        Runs = node.Runs,
    };

    public GraphState ToProto()
    {
        var state = new GraphState
        {
            Request = Request,
            SubmittedAtUnixMs = SubmittedAtUnixMs,
            CreatedIndex = CreatedIndex,
            FinishedAtUnixMs = FinishedAtUnixMs,
            Sequence = Sequence,
        };
        state.Nodes.AddRange(Nodes);
        return state;
    }

    /// <summary>Throws <see cref="InvalidDataException"/> for a record whose parts disagree.</summary>
    public static GraphRecord FromProto(GraphState state, SchedulerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Request is null)
        {
            throw new InvalidDataException("The scheduler snapshot holds a graph without its request.");
        }

        if (GraphRules.Validate(state.Request, limits) is { } invalid)
        {
            throw new InvalidDataException($"The scheduler snapshot holds a malformed graph {state.Request.GraphId}: {invalid}");
        }

        if (state.Nodes.Count != state.Request.Nodes.Count)
        {
            throw new InvalidDataException($"The scheduler snapshot's graph {state.Request.GraphId} has {state.Nodes.Count} node states for {state.Request.Nodes.Count} nodes.");
        }

        var ready = ImmutableSortedSet.CreateBuilder<int>();
        var unfinished = 0;
        for (var i = 0; i < state.Nodes.Count; i++)
        {
            var node = state.Nodes[i];
            if (node.Id != state.Request.Nodes[i].Id || node.Sequence > state.Sequence)
            {
                throw new InvalidDataException($"The scheduler snapshot's graph {state.Request.GraphId} has a node state out of place at {i}.");
            }

            unfinished += IsFinished(node.Phase) ? 0 : 1;
            if (node.Phase == GraphNodePhase.Ready)
            {
                ready.Add(i);
            }
        }

        return new GraphRecord
        {
            Request = state.Request,
            Topology = GraphTopology.Of(state.Request),
            SubmittedAtUnixMs = state.SubmittedAtUnixMs,
            CreatedIndex = state.CreatedIndex,
            FinishedAtUnixMs = state.FinishedAtUnixMs,
            Sequence = state.Sequence,
            Nodes = [.. state.Nodes],
            Ready = ready.ToImmutable(),
            Unfinished = unfinished,
        };
    }
}

/// <summary>The edges of a well-formed graph, derived once from its request: who each node takes outputs from, and who takes its outputs.</summary>
public sealed class GraphTopology
{
    private GraphTopology(FrozenDictionary<string, int> indexOf, int[][] producers, int[][] dependants)
    {
        IndexOf = indexOf;
        Producers = producers;
        Dependants = dependants;
    }

    public FrozenDictionary<string, int> IndexOf { get; }

    /// <summary>Distinct producers of each node.</summary>
    public int[][] Producers { get; }

    /// <summary>Distinct consumers of each node, in node order.</summary>
    public int[][] Dependants { get; }

    public static GraphTopology Of(SubmitGraphRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var index = new Dictionary<string, int>(request.Nodes.Count, StringComparer.Ordinal);
        for (var i = 0; i < request.Nodes.Count; i++)
        {
            index.Add(request.Nodes[i].Id, i);
        }

        var producers = GraphRules.Producers(request, index);
        var counts = new int[producers.Length];
        foreach (var of in producers)
        {
            foreach (var producer in of)
            {
                counts[producer]++;
            }
        }

        var dependants = new int[producers.Length][];
        for (var i = 0; i < dependants.Length; i++)
        {
            dependants[i] = new int[counts[i]];
            counts[i] = 0;
        }

        for (var consumer = 0; consumer < producers.Length; consumer++)
        {
            foreach (var producer in producers[consumer])
            {
                dependants[producer][counts[producer]++] = consumer;
            }
        }

        return new GraphTopology(index.ToFrozenDictionary(StringComparer.Ordinal), producers, dependants);
    }
}

/// <summary>A graph node following an operation.</summary>
public readonly record struct GraphNodeRef(string GraphId, int Node);
