using System.CommandLine;
using System.Text.Json;
using Command = System.CommandLine.Command;

namespace RaftHead.Cli;

/// <summary><c>rh workers</c>: the workers the leader knows, with capacity, leases, heartbeat and state; its subcommands quarantine and release one.</summary>
internal static class WorkersCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Command Create()
    {
        var wait = new Option<int>("--wait")
        {
            Description = "While no leader answers, look again for up to this many seconds (heartbeats are known only to the leader).",
            DefaultValueFactory = _ => NoLeaderRetry.WindowMs / 1000,
        };
        var workers = new Command("workers", "Workers: state (ok, retiring, silent, quarantined and why), slots, leases, CPU, memory, GPUs, last heartbeat and platform.");
        workers.Options.Add(wait);
        workers.Subcommands.Add(QuarantineCommands.Quarantine());
        workers.Subcommands.Add(QuarantineCommands.Release());
        workers.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, async () =>
        {
            var waitSeconds = result.GetValue(wait);
            if (waitSeconds < 0)
            {
                throw new UsageException($"--wait {waitSeconds} must not be negative");
            }

            var endpoints = StatusCommand.ParseHeads(CliOptions.ResolveEndpoint(result), "--endpoint");
            var leader = await StatusCommand.LeaderAsync(endpoints, waitSeconds, cancellationToken).ConfigureAwait(false);
            if (result.GetValue(CliOptions.Json))
            {
                Console.WriteLine(WorkersOutput.Json(leader).ToJsonString(JsonOptions));
            }
            else
            {
                Console.Write(WorkersOutput.Render(leader, HumanOutput.ForStdout()));
            }

            return 0;
        }));
        return workers;
    }
}
