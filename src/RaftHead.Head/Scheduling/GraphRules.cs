using System.Globalization;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// What makes a submitted action graph well formed, decided once for the Graphs service (which answers before anything
/// is proposed) and the apply (which must refuse the same graph the same way on every replica): node ids unique and
/// well spelled, every reference naming another node and one of its declared outputs, paths relative and clean, and no
/// cycle. Each problem names the node and the field.
/// </summary>
public static class GraphRules
{
    private const int NodeIdLengthMax = 128;
    private const int PathLengthMax = 4_096;

    /// <summary>The first problem with <paramref name="graph"/>, or null when it is well formed.</summary>
    public static string? Validate(SubmitGraphRequest graph, SchedulerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(limits);
        if (graph.GraphId.Length == 0)
        {
            return "graph_id is empty";
        }

        if (graph.GraphId.Length > limits.IdLengthMax)
        {
            return Invariant($"graph_id is {graph.GraphId.Length} characters long; the most is {limits.IdLengthMax}");
        }

        if (graph.ToolInvocationId.Length > limits.IdLengthMax || graph.InstanceName.Length > limits.IdLengthMax)
        {
            return Invariant($"instance_name and tool_invocation_id are at most {limits.IdLengthMax} characters long");
        }

        if (graph.Nodes.Count == 0)
        {
            return "nodes is empty: a graph has at least one node";
        }

        if (graph.Nodes.Count > limits.GraphNodesMax)
        {
            return Invariant($"the graph has {graph.Nodes.Count} nodes; the most is {limits.GraphNodesMax}");
        }

        var index = new Dictionary<string, int>(graph.Nodes.Count, StringComparer.Ordinal);
        for (var i = 0; i < graph.Nodes.Count; i++)
        {
            var node = graph.Nodes[i];
            if (CheckNodeId(node.Id) is { } badId)
            {
                return Invariant($"nodes[{i}].id: {badId}");
            }

            if (!index.TryAdd(node.Id, i))
            {
                return Invariant($"node '{node.Id}': the id is used twice (nodes[{index[node.Id]}] and nodes[{i}])");
            }
        }

        foreach (var node in graph.Nodes)
        {
            if (CheckNode(node, graph.Nodes, index, limits) is { } problem)
            {
                return $"node '{node.Id}': {problem}";
            }
        }

        return FindCycle(graph, index) is { } cycle ? $"node '{cycle}': it depends on itself through its inputs (a cycle)" : null;
    }

    /// <summary>
    /// Each node's distinct producers (the nodes it takes outputs from), by position in the request; assumes a graph
    /// <see cref="Validate"/> accepted.
    /// </summary>
    public static int[][] Producers(SubmitGraphRequest graph, IReadOnlyDictionary<string, int> index)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(index);
        var producers = new int[graph.Nodes.Count][];
        var distinct = new List<int>();
        for (var i = 0; i < producers.Length; i++)
        {
            distinct.Clear();
            foreach (var input in graph.Nodes[i].Inputs)
            {
                var producer = index[input.Node];
                if (!distinct.Contains(producer))
                {
                    distinct.Add(producer);
                }
            }

            producers[i] = [.. distinct];
        }

        return producers;
    }

    /// <summary>Where an input lands in the consumer's input root: its own path, else the output's path in the producer's input root.</summary>
    public static string TargetPath(NodeInput input, GraphNode producer)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(producer);
        return input.Path.Length > 0 ? input.Path : Join(producer.WorkingDirectory, input.Output);
    }

    public static string Join(string directory, string path) => directory.Length == 0 ? path : directory + "/" + path;

    /// <summary>Null for a clean relative path: no leading or trailing '/', no empty, '.' or '..' segment, no NUL.</summary>
    public static string? CheckRelativePath(string path)
    {
        if (path.Length == 0)
        {
            return "is empty";
        }

        if (path.Length > PathLengthMax)
        {
            return Invariant($"is {path.Length} characters long; the most is {PathLengthMax}");
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            return "contains a NUL character";
        }

        if (path[0] == '/')
        {
            return $"'{path}' is absolute; paths are relative to the input root";
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment == "." || segment == "..")
            {
                return $"'{path}' has an empty, '.' or '..' segment";
            }
        }

        return null;
    }

    private static string? CheckNodeId(string id)
    {
        if (id.Length == 0)
        {
            return "is empty";
        }

        if (id.Length > NodeIdLengthMax)
        {
            return Invariant($"'{id[..16]}...' is {id.Length} characters long; the most is {NodeIdLengthMax}");
        }

        foreach (var c in id)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-' or '+' or '/'))
            {
                return $"'{id}' holds '{c}'; ids use A-Z a-z 0-9 . _ - + /";
            }
        }

        return null;
    }

    private static string? CheckNode(GraphNode node, Google.Protobuf.Collections.RepeatedField<GraphNode> nodes, Dictionary<string, int> index, SchedulerLimits limits)
    {
        if (node.Arguments.Count == 0 || node.Arguments[0].Length == 0)
        {
            return "arguments is empty: the first argument is the program to run";
        }

        if (node.WorkingDirectory.Length > 0 && CheckRelativePath(node.WorkingDirectory) is { } badDirectory)
        {
            return "working_directory " + badDirectory;
        }

        if (node.InputRootDigest is { } root && Digests.Validate(root) is { } badRoot)
        {
            return "input_root_digest: " + badRoot;
        }

        if (node.Inputs.Count > limits.GraphNodeInputsMax)
        {
            return Invariant($"{node.Inputs.Count} inputs from other nodes; the most is {limits.GraphNodeInputsMax}");
        }

        var outputs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var output in node.OutputPaths)
        {
            if (CheckRelativePath(output) is { } badOutput)
            {
                return "output_paths: " + badOutput;
            }

            if (!outputs.Add(output))
            {
                return $"output_paths: '{output}' is listed twice";
            }
        }

        var targets = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < node.Inputs.Count; i++)
        {
            var input = node.Inputs[i];
            if (!index.TryGetValue(input.Node, out var producerIndex))
            {
                return Invariant($"inputs[{i}] names node '{input.Node}', which is not in the graph");
            }

            var producer = nodes[producerIndex];
            if (ReferenceEquals(producer, node))
            {
                return Invariant($"inputs[{i}] names the node itself");
            }

            if (!producer.OutputPaths.Contains(input.Output))
            {
                return Invariant($"inputs[{i}] names output '{input.Output}' of node '{input.Node}', which does not declare it");
            }

            if (input.Path.Length > 0 && CheckRelativePath(input.Path) is { } badPath)
            {
                return Invariant($"inputs[{i}].path {badPath}");
            }

            if (!targets.Add(TargetPath(input, producer)))
            {
                return Invariant($"inputs[{i}] puts a second input at '{TargetPath(input, producer)}'");
            }
        }

        return null;
    }

    /// <summary>A node on a cycle, or null: an iterative depth-first walk (graphs may be deep chains).</summary>
    private static string? FindCycle(SubmitGraphRequest graph, Dictionary<string, int> index)
    {
        var producers = Producers(graph, index);
        var mark = new byte[producers.Length]; // 0 unseen, 1 on the walk's path, 2 done
        var stack = new Stack<(int Node, int Next)>();
        for (var start = 0; start < producers.Length; start++)
        {
            if (mark[start] != 0)
            {
                continue;
            }

            stack.Push((start, 0));
            mark[start] = 1;
            while (stack.Count > 0)
            {
                var (node, next) = stack.Pop();
                if (next == producers[node].Length)
                {
                    mark[node] = 2;
                    continue;
                }

                stack.Push((node, next + 1));
                var producer = producers[node][next];
                if (mark[producer] == 1)
                {
                    return graph.Nodes[producer].Id;
                }

                if (mark[producer] == 0)
                {
                    mark[producer] = 1;
                    stack.Push((producer, 0));
                }
            }
        }

        return null;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
