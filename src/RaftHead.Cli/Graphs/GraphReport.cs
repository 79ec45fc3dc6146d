using System.Globalization;
using System.Text;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using Spectre.Console;

namespace RaftHead.Cli.Graphs;

/// <summary>What a finished graph comes to: a summary table, and each failed node's reason and the tail of its stderr.</summary>
internal static class GraphReport
{
    /// <summary>Lines of a failed node's stderr shown.</summary>
    public const int StderrTailLines = 20;

    /// <summary>Failed nodes whose own run failed shown in full; more are counted.</summary>
    private const int FailuresShownMax = 5;

    /// <summary>Bytes read from the end of a stderr blob: enough for the tail without fetching a huge log.</summary>
    private const int StderrTailBytesMax = 16 * 1024;

    private const int SlowestShown = 5;

    /// <summary>The summary table, drawn as every table of the CLI is (<see cref="HumanOutput"/>: plain off a terminal).</summary>
    public static void Summary(IAnsiConsole console, HumanOutput output, GraphStatus status)
    {
        var counts = status.Counts ?? new GraphCounts();
        console.WriteLine($"graph {status.GraphId}");
        var table = output.Table("nodes", ">count");
        void Row(string name, uint count, Color? colour)
        {
            if (count > 0)
            {
                table.AddRow(output.Cell(name, colour), new Text(count.ToString(CultureInfo.InvariantCulture)));
            }
        }

        Row("completed", counts.Completed, Color.Green);
        Row("cached", counts.Cached, Color.Green);
        Row("failed", counts.Failed, Color.Red);
        Row("cancelled", counts.Cancelled, Color.Yellow);
        Row("running", counts.Running, null);
        Row("queued", counts.Waiting + counts.Ready + counts.Queued, null);
        table.AddRow(new Text("total"), new Text(status.Nodes.Count.ToString(CultureInfo.InvariantCulture)));
        if (status.FinishedAtUnixMs > 0 && status.SubmittedAtUnixMs > 0)
        {
            table.AddRow(new Text("wall time"), new Text(GraphTally.Format(TimeSpan.FromMilliseconds(status.FinishedAtUnixMs - status.SubmittedAtUnixMs))));
        }

        var ran = counts.Completed + counts.Cached;
        if (ran > 0)
        {
            table.AddRow(new Text("cache hits"), new Text(string.Create(CultureInfo.InvariantCulture, $"{100.0 * counts.Cached / ran:0.#}%")));
        }

        console.Write(table);
        // Cached nodes did not run in this build: their results carry an earlier run's times.
        var slowest = status.Nodes
            .Where(n => n.Phase != GraphNodePhase.Cached)
            .Select(n => (n.Id, Took: Took(n.Result)))
            .Where(n => n.Took > TimeSpan.Zero)
            .OrderByDescending(n => n.Took)
            .Take(SlowestShown)
            .ToList();
        if (slowest.Count > 0)
        {
            console.WriteLine("slowest: " + string.Join(", ", slowest.Select(n => string.Create(CultureInfo.InvariantCulture, $"{n.Id} {n.Took.TotalSeconds:0.0}s"))));
        }
    }

    /// <summary>Writes each failed node's reason, and for those that ran, the tail of their stderr.</summary>
    public static async Task FailuresAsync(TextWriter error, GraphStatus status, IBlobStore cas, CancellationToken cancellationToken)
    {
        var failed = status.Nodes.Where(n => n.Phase == GraphNodePhase.Failed).ToList();
        var ran = failed.Where(n => n.Result is not null).ToList();
        foreach (var node in ran.Take(FailuresShownMax))
        {
            await error.WriteLineAsync($"rh: node {node.Id} failed: {Reason(node)}").ConfigureAwait(false);
            var tail = await StderrTailAsync(node.Result, status.InstanceName, cas, cancellationToken).ConfigureAwait(false);
            if (tail.Count > 0)
            {
                await error.WriteLineAsync($"--- last {tail.Count} lines of {node.Id}'s stderr ---").ConfigureAwait(false);
                foreach (var line in tail)
                {
                    await error.WriteLineAsync(line).ConfigureAwait(false);
                }

                await error.WriteLineAsync("---").ConfigureAwait(false);
            }
        }

        if (ran.Count > FailuresShownMax)
        {
            await error.WriteLineAsync($"rh: {ran.Count - FailuresShownMax} more nodes failed running: {string.Join(", ", ran.Skip(FailuresShownMax).Select(n => n.Id))}").ConfigureAwait(false);
        }

        var dependants = failed.Where(n => n.Result is null).ToList();
        foreach (var node in dependants.Take(FailuresShownMax))
        {
            await error.WriteLineAsync($"rh: node {node.Id} failed: {Reason(node)}").ConfigureAwait(false);
        }

        if (dependants.Count > FailuresShownMax)
        {
            await error.WriteLineAsync($"rh: {dependants.Count - FailuresShownMax} more nodes failed without running").ConfigureAwait(false);
        }
    }

    /// <summary>The last <see cref="StderrTailLines"/> lines of a result's stderr, inline or from the CAS; empty if it has none.</summary>
    public static async Task<IReadOnlyList<string>> StderrTailAsync(ActionResult result, string instanceName, IBlobStore cas, CancellationToken cancellationToken)
    {
        byte[] bytes;
        var cut = false;
        if (result.StderrRaw.Length > 0)
        {
            bytes = result.StderrRaw.ToByteArray();
        }
        else if (result.StderrDigest is { SizeBytes: > 0 } digest)
        {
            var offset = Math.Max(0, digest.SizeBytes - StderrTailBytesMax);
            cut = offset > 0;
            await using var stream = await cas.OpenReadAsync(instanceName, digest, offset, 0, cancellationToken).ConfigureAwait(false);
            if (stream is null)
            {
                return [$"(stderr {Protocol.Digests.ToResourceString(digest)} is no longer in the CAS)"];
            }

            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
            bytes = copy.ToArray();
        }
        else
        {
            return [];
        }

        var lines = Encoding.UTF8.GetString(bytes).TrimEnd('\n').Split('\n');
        // A tail read from the middle of the log starts with a partial line.
        var start = Math.Max(cut ? 1 : 0, lines.Length - StderrTailLines);
        return lines[start..];
    }

    private static string Reason(GraphNodeStatus node)
    {
        if (node.Failure.Length > 0)
        {
            return node.Failure;
        }

        return node.Result is { } result ? string.Create(CultureInfo.InvariantCulture, $"exit code {result.ExitCode}") : "no reason given";
    }

    private static TimeSpan Took(ActionResult? result) =>
        result?.ExecutionMetadata is { ExecutionStartTimestamp: { } start, ExecutionCompletedTimestamp: { } end }
            ? end.ToDateTimeOffset() - start.ToDateTimeOffset()
            : TimeSpan.Zero;
}
