using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Graphs;

/// <summary>What the Graphs service answers, read from a graph's replicated record.</summary>
internal static class GraphViews
{
    public static GraphStatus Status(GraphRecord graph)
    {
        var status = new GraphStatus
        {
            GraphId = graph.Id,
            InstanceName = graph.Request.InstanceName,
            SubmittedAtUnixMs = graph.SubmittedAtUnixMs,
            FinishedAtUnixMs = graph.Done ? graph.FinishedAtUnixMs : 0,
            Counts = Counts(graph),
            Sequence = graph.Sequence,
        };
        status.Nodes.AddRange(graph.Nodes);
        return status;
    }

    public static GraphCounts Counts(GraphRecord graph)
    {
        var counts = new GraphCounts();
        foreach (var node in graph.Nodes)
        {
            switch (node.Phase)
            {
                case GraphNodePhase.Waiting:
                    counts.Waiting++;
                    break;
                case GraphNodePhase.Ready:
                    counts.Ready++;
                    break;
                case GraphNodePhase.Queued:
                    counts.Queued++;
                    break;
                case GraphNodePhase.Running:
                    counts.Running++;
                    break;
                case GraphNodePhase.Completed:
                    counts.Completed++;
                    break;
                case GraphNodePhase.Cached:
                    counts.Cached++;
                    break;
                case GraphNodePhase.Failed:
                    counts.Failed++;
                    break;
                case GraphNodePhase.Cancelled:
                    counts.Cancelled++;
                    break;
            }
        }

        return counts;
    }

    /// <summary>The nodes changed after <paramref name="afterSequence"/>, in the order of their changes.</summary>
    public static List<GraphNodeStatus> ChangedAfter(GraphRecord graph, long afterSequence)
    {
        var changed = new List<GraphNodeStatus>();
        foreach (var node in graph.Nodes)
        {
            if (node.Sequence > afterSequence)
            {
                changed.Add(node);
            }
        }

        changed.Sort(static (a, b) => a.Sequence.CompareTo(b.Sequence));
        return changed;
    }
}
