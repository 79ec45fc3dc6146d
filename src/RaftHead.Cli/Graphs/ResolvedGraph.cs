using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Graphs;

/// <summary>A graph file checked and resolved: every input is either a local path under <see cref="BaseDirectory"/> or another node's output.</summary>
internal sealed record ResolvedGraph(string FileName, string BaseDirectory, GraphFile File, IReadOnlyList<ResolvedNode> Nodes);

/// <param name="LocalInputs">Normalized paths relative to the graph's base directory ("" is the directory itself), in the order written.</param>
/// <param name="References">Other nodes' outputs placed in this node's input root.</param>
internal sealed record ResolvedNode(GraphFileNode Node, IReadOnlyList<string> LocalInputs, IReadOnlyList<NodeInput> References);
