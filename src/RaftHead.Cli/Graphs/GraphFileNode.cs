using System.ComponentModel;

namespace RaftHead.Cli.Graphs;

/// <summary>One action of a graph file.</summary>
internal sealed record GraphFileNode
{
    [Description("Unique in the graph: 1..128 characters of A-Z a-z 0-9 . _ - + /.")]
    public required string Id { get; init; }

    [Description("The command: the program, then its arguments.")]
    public required List<string> Argv { get; init; }

    [Description("Environment variables of the command.")]
    public Dictionary<string, string>? Env { get; init; }

    [Description("Local files or directories (\"path\", \"dir/\"), input sets (\"@name\"), another node's output (\"node:output/path\", or an object), placed in this node's input root.")]
    public List<GraphFileInput>? Inputs { get; init; }

    [Description("Files or directories the command leaves, relative to its working directory.")]
    public List<string>? Outputs { get; init; }

    [Description("Platform properties the worker must match.")]
    public Dictionary<string, string>? Platform { get; init; }

    [Description("The command's working directory, relative to the input root. Default: the input root.")]
    public string? Workdir { get; init; }

    [Description("Seconds the command may run. Default: the server's.")]
    public double? TimeoutS { get; init; }

    [Description("Run it even when the action cache holds a result, and do not cache its result.")]
    public bool? DoNotCache { get; init; }
}
