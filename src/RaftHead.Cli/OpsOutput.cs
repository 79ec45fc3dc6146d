using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace RaftHead.Cli;

/// <summary><c>rh ops</c>'s text; <c>now</c> turns times into ages and gives a running operation its time so far.</summary>
internal static class OpsOutput
{
    /// <summary>queued, running, done, failed, dead (given up after its attempts) or cancelled.</summary>
    public static string State(OperationSummary op)
    {
        ArgumentNullException.ThrowIfNull(op);
        return op.Stage switch
        {
            ExecutionStage.Types.Value.Queued => "queued",
            ExecutionStage.Types.Value.Executing => "running",
            ExecutionStage.Types.Value.Completed when op.DeadLettered => "dead",
            ExecutionStage.Types.Value.Completed when op.Cancelled => "cancelled",
            ExecutionStage.Types.Value.Completed when Failed(op) => "failed",
            ExecutionStage.Types.Value.Completed => "done",
            _ => op.Stage.ToString().ToLowerInvariant(),
        };
    }

    public static string Render(ListOperationsResponse response, DateTimeOffset now, HumanOutput output)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(output);
        return output.Render(console => Draw(console, response, now, output));
    }

    private static void Draw(IAnsiConsole console, ListOperationsResponse response, DateTimeOffset now, HumanOutput output)
    {
        if (!response.ExecutionEnabled)
        {
            console.WriteLine("this head does not execute actions (started without --exec)");
            return;
        }

        console.WriteLine($"queued {response.Queued}, running {response.Running} of {response.Slots} slot(s)");
        if (response.Operations.Count == 0)
        {
            console.WriteLine("no operations");
            return;
        }

        // Most clusters never race a clone: the column appears only when one of these operations had one.
        var clones = false;
        foreach (var op in response.Operations)
        {
            clones |= op.Clones > 0;
        }

        var table = clones
            ? output.Table("operation", "state", "outcome", ">attempts", "clones", ">queued", ">ran for", "worker", "action")
            : output.Table("operation", "state", "outcome", ">attempts", ">queued", ">ran for", "worker", "action");
        foreach (var op in response.Operations)
        {
            var state = State(op);
            var cells = new List<IRenderable>(9)
            {
                output.Cell(op.Name),
                output.Cell(state, state switch { "done" => Color.Green, "failed" or "dead" => Color.Red, "cancelled" => Color.Yellow, _ => null }),
                output.Cell(Outcome(op)),
                output.Cell(op.Attempts.ToString(CultureInfo.InvariantCulture)),
            };
            if (clones)
            {
                cells.Add(output.Cell(Clones(op), op.CloneWon ? Color.Green : null));
            }

            cells.Add(output.Cell(op.QueuedAt is null ? "-" : Humanize.Duration(now - op.QueuedAt.ToDateTimeOffset()) + " ago"));
            cells.Add(output.Cell(RanFor(op, now)));
            cells.Add(output.Cell(op.Worker.Length == 0 ? "-" : op.Worker));
            cells.Add(HumanOutput.Cropped(Digests.ToResourceString(op.ActionDigest)));
            table.AddRow(cells);
        }

        console.Write(table);
        DrawReasons(console, response);
    }

    /// <summary>Why: every failed attempt, and the outcome's message when it is not OK (too long for a table cell).</summary>
    private static void DrawReasons(IAnsiConsole console, ListOperationsResponse response)
    {
        var first = true;
        foreach (var op in response.Operations)
        {
            var message = op.HasStatusCode && op.StatusCode != 0 && op.StatusMessage.Length > 0 ? op.StatusMessage : null;
            if (op.Failures.Count == 0 && message is null)
            {
                continue;
            }

            if (first)
            {
                console.WriteLine();
                first = false;
            }

            console.WriteLine($"{op.Name}: {State(op)} after {op.Attempts} attempt(s)");
            foreach (var failure in op.Failures)
            {
                var worker = failure.WorkerId.Length == 0 ? "" : " on " + failure.WorkerId;
                console.WriteLine($"  attempt {failure.Attempt}{worker}: {failure.Reason}");
            }

            if (message is not null)
            {
                console.WriteLine($"  status {(Grpc.Core.StatusCode)op.StatusCode}: {message}");
            }
        }
    }

    /// <summary>Speculative clones raced against it: "-", "1", or "1 (won)" when a clone's result is the one kept.</summary>
    public static string Clones(OperationSummary op)
    {
        ArgumentNullException.ThrowIfNull(op);
        if (op.Clones == 0)
        {
            return "-";
        }

        var count = op.Clones.ToString(CultureInfo.InvariantCulture);
        return op.CloneWon ? count + " (won)" : count;
    }

    private static bool Failed(OperationSummary op) =>
        (op.HasStatusCode && op.StatusCode != 0) || (op.HasExitCode && op.ExitCode != 0);

    private static string Outcome(OperationSummary op)
    {
        if (op.Stage != ExecutionStage.Types.Value.Completed)
        {
            return "-";
        }

        if (op.CachedResult)
        {
            return "cache hit";
        }

        if (op.HasStatusCode && op.StatusCode != 0)
        {
            return ((Grpc.Core.StatusCode)op.StatusCode).ToString();
        }

        return op.HasExitCode ? "exit " + op.ExitCode.ToString(CultureInfo.InvariantCulture) : "-";
    }

    private static string RanFor(OperationSummary op, DateTimeOffset now)
    {
        if (op.StartedAt is null)
        {
            return "-";
        }

        var end = op.CompletedAt?.ToDateTimeOffset() ?? now;
        return Humanize.Duration(end - op.StartedAt.ToDateTimeOffset());
    }
}
