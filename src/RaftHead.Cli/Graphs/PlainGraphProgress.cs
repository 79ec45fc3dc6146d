using System.Globalization;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Graphs;

/// <summary>One line per node change, for logs and pipes: "[finished/total] node phase", a failure with its reason.</summary>
internal sealed class PlainGraphProgress : IGraphProgress
{
    private readonly TextWriter _out;
    private readonly TextWriter _error;

    public PlainGraphProgress(TextWriter output, TextWriter error)
    {
        _out = output;
        _error = error;
    }

    public Task RunAsync(int total, Func<Action<GraphEvent>, Action<long>, Task> watch)
    {
        var width = total.ToString(CultureInfo.InvariantCulture).Length;
        return watch(
            change =>
            {
                if (change.Node is not { } node)
                {
                    return;
                }

                var tally = GraphTally.From(change.Counts ?? new GraphCounts(), total);
                var finished = tally.Finished.ToString(CultureInfo.InvariantCulture).PadLeft(width);
                var failure = node.Phase == GraphNodePhase.Failed && node.Failure.Length > 0 ? $": {node.Failure}" : "";
                _out.WriteLine($"[{finished}/{total}] {node.Id} {GraphTally.Phase(node.Phase)}{failure}");
            },
            after => _error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rh: the watch broke; resuming after change {after}")));
    }
}
