using System.ComponentModel;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// A graph file as a person writes it: the build's actions and how their outputs flow into each other. Paths of local
/// inputs are relative to the file's directory. <see cref="GraphFileJson"/> reads it; graph.schema.json describes it.
/// </summary>
internal sealed record GraphFile
{
    [Description("The graph's name and idempotency key (1..256 characters). Default: a hash of the graph and its local inputs' digests, so submitting an unchanged build again answers the first submission.")]
    public string? GraphId { get; init; }

    [Description("The REAPI instance name. Default: empty.")]
    public string? InstanceName { get; init; }

    [Description("Named lists of local inputs, used by a node as the input \"@name\": one shared tree for every node that names it.")]
    public Dictionary<string, List<string>>? InputSets { get; init; }

    [Description("The actions, in any order.")]
    public required List<GraphFileNode> Nodes { get; init; }
}
