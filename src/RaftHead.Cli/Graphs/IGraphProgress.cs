using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Graphs;

/// <summary>How a watched graph's progress is shown while <c>watch</c> runs: a live display, or a line per change.</summary>
internal interface IGraphProgress
{
    /// <param name="total">Nodes in the graph.</param>
    /// <param name="watch">Follows the graph, calling its first argument per change and its second before a resume.</param>
    Task RunAsync(int total, Func<Action<GraphEvent>, Action<long>, Task> watch);
}
