using System.CommandLine;
using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using Command = System.CommandLine.Command;

namespace RaftHead.Cli;

/// <summary><c>rh ops</c>: operations with their action digest, stage, times and worker.</summary>
internal static class OpsCommand
{
    private static readonly string[] States = { "queued", "running", "done", "failed" };

    public static Command Create()
    {
        var state = new Option<string?>("--state") { Description = "Only operations in this state: queued, running, done or failed." };
        state.AcceptOnlyFromAmong(States);
        var limit = new Option<int>("--limit") { Description = "At most this many, most recent first (0: all).", DefaultValueFactory = _ => 50 };
        var ops = new Command("ops", "Operations: queued, running, done and failed, with their action, times and worker.");
        ops.Options.Add(state);
        ops.Options.Add(limit);
        ops.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, () => ListAsync(result, result.GetValue(state), result.GetValue(limit), cancellationToken)));
        return ops;
    }

    private static async Task<int> ListAsync(ParseResult result, string? state, int limit, CancellationToken cancellationToken)
    {
        var request = new ListOperationsRequest();
        switch (state)
        {
            case "queued":
                request.Stages.Add(ExecutionStage.Types.Value.Queued);
                break;
            case "running":
                request.Stages.Add(ExecutionStage.Types.Value.Executing);
                break;
            case "done" or "failed":
                request.Stages.Add(ExecutionStage.Types.Value.Completed);
                break;
        }

        // Failed is a subset of done, filtered here, so the limit applies after filtering.
        request.Limit = state == "failed" ? 0 : limit;
        var response = await CliOptions.Clients(result).Admin.ListOperationsAsync(request, CliOptions.CallOptions(cancellationToken)).ConfigureAwait(false);
        var rows = new List<OperationSummary>();
        foreach (var op in response.Operations)
        {
            if (state == "failed" && !Failed(op))
            {
                continue;
            }

            rows.Add(op);
            if (limit > 0 && rows.Count == limit)
            {
                break;
            }
        }

        if (result.GetValue(CliOptions.Json))
        {
            var list = new ListOperationsResponse { ExecutionEnabled = response.ExecutionEnabled, Queued = response.Queued, Running = response.Running, Slots = response.Slots };
            list.Operations.AddRange(rows);
            Console.WriteLine(Google.Protobuf.JsonFormatter.Default.Format(list));
            return 0;
        }

        if (!response.ExecutionEnabled)
        {
            Console.WriteLine("this head does not execute actions (started without --exec)");
            return 0;
        }

        Console.WriteLine($"queued {response.Queued}, running {response.Running} of {response.Slots} slot(s)");
        Console.WriteLine($"{"operation",-48} {"stage",-9} {"outcome",-12} {"queued",-12} {"ran for",9} {"worker",-16} action");
        foreach (var op in rows)
        {
            Console.WriteLine($"{op.Name,-48} {Stage(op.Stage),-9} {Outcome(op),-12} {Time(op.QueuedAt),-12} {Duration(op),9} {op.Worker,-16} {Digests.ToResourceString(op.ActionDigest)}");
        }

        return 0;
    }

    private static bool Failed(OperationSummary op) =>
        op.Stage == ExecutionStage.Types.Value.Completed && ((op.HasStatusCode && op.StatusCode != 0) || (op.HasExitCode && op.ExitCode != 0));

    private static string Stage(ExecutionStage.Types.Value stage) => stage switch
    {
        ExecutionStage.Types.Value.Queued => "queued",
        ExecutionStage.Types.Value.Executing => "running",
        ExecutionStage.Types.Value.Completed => "done",
        _ => stage.ToString().ToLowerInvariant(),
    };

    private static string Outcome(OperationSummary op)
    {
        if (op.Stage != ExecutionStage.Types.Value.Completed)
        {
            return "";
        }

        if (op.CachedResult)
        {
            return "cache hit";
        }

        if (op.HasStatusCode && op.StatusCode != 0)
        {
            return ((Grpc.Core.StatusCode)op.StatusCode).ToString();
        }

        return op.HasExitCode ? "exit " + op.ExitCode.ToString(CultureInfo.InvariantCulture) : "";
    }

    private static string Time(Google.Protobuf.WellKnownTypes.Timestamp? at) =>
        at is null ? "" : at.ToDateTime().ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);

    private static string Duration(OperationSummary op)
    {
        if (op.StartedAt is null)
        {
            return "";
        }

        var end = op.CompletedAt?.ToDateTime() ?? DateTime.UtcNow;
        return (end - op.StartedAt.ToDateTime()).TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + "s";
    }
}
