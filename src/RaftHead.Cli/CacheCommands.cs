using System.CommandLine;
using System.Text.Json;
using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using Command = System.CommandLine.Command;

namespace RaftHead.Cli;

/// <summary><c>rh cache stats</c> and <c>rh cache get</c>.</summary>
internal static class CacheCommands
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Command Create()
    {
        var cache = new Command("cache", "The action cache and the CAS behind it.");

        var stats = new Command("stats", "Hits, misses, incomplete results, hit ratio, blobs, bytes and evictions, per instance.");
        stats.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, () => StatsAsync(result, cancellationToken)));
        cache.Subcommands.Add(stats);

        var digest = new Argument<string>("action-digest") { Description = "The action's digest, <sha256>/<size>." };
        var instance = new Option<string>("--instance") { Description = "The REAPI instance name.", DefaultValueFactory = _ => "" };
        var get = new Command("get", "One action's cached result: exit code, outputs with their digests, stdout and stderr sizes.");
        get.Arguments.Add(digest);
        get.Options.Add(instance);
        get.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, () => GetAsync(result, result.GetValue(digest)!, result.GetValue(instance)!, cancellationToken)));
        cache.Subcommands.Add(get);
        return cache;
    }

    private static async Task<int> StatsAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var admin = CliOptions.Clients(result).Admin;
        var stats = await NoLeaderRetry.RunAsync(
            async token => await admin.GetCacheStatsAsync(new GetCacheStatsRequest(), CliOptions.CallOptions(token)).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        if (result.GetValue(CliOptions.Json))
        {
            Console.WriteLine(CacheOutput.StatsJson(stats).ToJsonString(JsonOptions));
        }
        else
        {
            Console.Write(CacheOutput.RenderStats(stats, HumanOutput.ForStdout()));
        }

        return 0;
    }

    private static async Task<int> GetAsync(ParseResult result, string digestText, string instanceName, CancellationToken cancellationToken)
    {
        if (!Digests.TryParse(digestText, out var digest, out var error))
        {
            throw new UsageException($"'{digestText}' is not an action digest: {error}");
        }

        var clients = CliOptions.Clients(result);
        ActionResult action;
        try
        {
            action = await NoLeaderRetry.RunAsync(
                async token => await clients.ActionCache.GetActionResultAsync(
                    new GetActionResultRequest { InstanceName = instanceName, ActionDigest = digest },
                    CliOptions.CallOptions(token)).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            await Console.Error.WriteLineAsync($"rh: no cached result for {digestText} (a miss, or a result whose outputs are gone)").ConfigureAwait(false);
            return CliFailure.ExitFailure;
        }

        if (result.GetValue(CliOptions.Json))
        {
            Console.WriteLine(CliJson.Protobuf.Format(action));
        }
        else
        {
            Console.Write(CacheOutput.RenderResult(digestText, action, HumanOutput.ForStdout()));
        }

        return 0;
    }
}
