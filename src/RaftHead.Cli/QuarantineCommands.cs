using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using RaftHead.Protocol.V1;
using Command = System.CommandLine.Command;

namespace RaftHead.Cli;

/// <summary>
/// <c>rh workers quarantine WORKER --reason TEXT</c> and <c>rh workers release WORKER</c>: stop leasing to a worker
/// whose results are not trusted (what it runs goes back to the queue) and let it work again. Any head takes them; a
/// follower hands them to the leader.
/// </summary>
internal static class QuarantineCommands
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Command Quarantine()
    {
        var worker = new Argument<string>("worker") { Description = "The worker's id, as rh workers lists it." };
        var reason = new Option<string?>("--reason") { Description = "Why (required): shown in rh workers until the worker is released." };
        var command = new Command("quarantine", "Stop leasing to a worker and requeue what it runs; it stays registered until released.");
        command.Arguments.Add(worker);
        command.Options.Add(reason);
        command.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, () =>
        {
            var why = result.GetValue(reason)?.Trim();
            if (string.IsNullOrEmpty(why))
            {
                throw new UsageException("--reason must say why the worker is quarantined (rh workers shows it)");
            }

            return SetAsync(result, result.GetValue(worker)!, why, cancellationToken);
        }));
        return command;
    }

    public static Command Release()
    {
        var worker = new Argument<string>("worker") { Description = "The worker's id, as rh workers lists it." };
        var command = new Command("release", "Lift a worker's quarantine: it takes new leases again.");
        command.Arguments.Add(worker);
        command.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, () => SetAsync(result, result.GetValue(worker)!, null, cancellationToken)));
        return command;
    }

    /// <param name="reason">Quarantine for this reason; null: release.</param>
    private static async Task<int> SetAsync(ParseResult result, string worker, string? reason, CancellationToken cancellationToken)
    {
        if (worker.Trim().Length == 0)
        {
            throw new UsageException("the worker's id must not be empty (rh workers lists them)");
        }

        var request = new SetWorkerQuarantineRequest { WorkerId = worker, Quarantined = reason is not null, Reason = reason ?? "" };
        var admin = CliOptions.Clients(result).Admin;
        try
        {
            // Asking again is safe: a second quarantine keeps the first reason, a second release changes nothing.
            await NoLeaderRetry.RunAsync(
                async token => await admin.SetWorkerQuarantineAsync(request, CliOptions.CallOptions(token)).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            await Console.Error.WriteLineAsync($"rh: no worker '{worker}' is registered (rh workers lists them)").ConfigureAwait(false);
            return CliFailure.ExitFailure;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
        {
            await Console.Error.WriteLineAsync($"rh: {CliOptions.ResolveEndpoint(result)} cannot quarantine workers: {e.Status.Detail}").ConfigureAwait(false);
            return CliFailure.ExitFailure;
        }

        if (result.GetValue(CliOptions.Json))
        {
            var json = new JsonObject { ["worker"] = worker, ["quarantined"] = reason is not null, ["reason"] = reason };
            Console.WriteLine(json.ToJsonString(JsonOptions));
        }
        else
        {
            Console.WriteLine(reason is null
                ? $"released {worker}: it takes new leases"
                : $"quarantined {worker}: it gets no new leases and what it ran is queued again (undo with: rh workers release {worker})");
        }

        return 0;
    }
}
