using System.CommandLine;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol.V1;
using Command = System.CommandLine.Command;

namespace RaftHead.Cli;

/// <summary><c>rh ops</c>: operations with their action digest, stage, times and worker.</summary>
internal static class OpsCommand
{
    private static readonly string[] States = { "queued", "running", "done", "failed", "dead" };

    public static Command Create()
    {
        var state = new Option<string?>("--state") { Description = "Only operations in this state: queued, running, done (finished, whatever the outcome), failed (finished without success) or dead (given up after its attempts)." };
        state.AcceptOnlyFromAmong(States);
        var limit = new Option<int>("--limit") { Description = "At most this many, most recent first (0: all).", DefaultValueFactory = _ => 50 };
        var ops = new Command("ops", "Operations: queued, running, done, failed and dead, with their action, attempts, times, worker and why they failed.");
        ops.Options.Add(state);
        ops.Options.Add(limit);
        ops.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, () => ListAsync(result, result.GetValue(state), result.GetValue(limit), cancellationToken)));
        return ops;
    }

    private static async Task<int> ListAsync(ParseResult result, string? state, int limit, CancellationToken cancellationToken)
    {
        if (limit < 0)
        {
            throw new UsageException($"--limit {limit} must not be negative");
        }

        var request = new ListOperationsRequest { Limit = limit };
        switch (state)
        {
            case "queued":
                request.Stages.Add(ExecutionStage.Types.Value.Queued);
                break;
            case "running":
                request.Stages.Add(ExecutionStage.Types.Value.Executing);
                break;
            case "done":
                request.Stages.Add(ExecutionStage.Types.Value.Completed);
                break;
            case "failed":
                request.Outcome = OutcomeFilter.Failed;
                break;
            case "dead":
                request.Outcome = OutcomeFilter.DeadLettered;
                break;
        }

        var admin = CliOptions.Clients(result).Admin;
        var response = await NoLeaderRetry.RunAsync(
            async token => await admin.ListOperationsAsync(request, CliOptions.CallOptions(token)).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        if (result.GetValue(CliOptions.Json))
        {
            Console.WriteLine(CliJson.Protobuf.Format(response));
        }
        else
        {
            Console.Write(OpsOutput.Render(response, DateTimeOffset.UtcNow, HumanOutput.ForStdout()));
        }

        return 0;
    }
}
