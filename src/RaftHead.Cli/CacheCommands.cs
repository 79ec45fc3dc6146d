using System.CommandLine;
using System.Globalization;
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
        var clients = CliOptions.Clients(result);
        var stats = await clients.Admin.GetCacheStatsAsync(new GetCacheStatsRequest(), CliOptions.CallOptions(cancellationToken)).ConfigureAwait(false);
        if (result.GetValue(CliOptions.Json))
        {
            var rows = new List<Dictionary<string, object>> { Row(stats.Total, "(all)") };
            foreach (var instance in stats.Instances)
            {
                rows.Add(Row(instance, instance.InstanceName));
            }

            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["max_bytes"] = stats.MaxBytes, ["instances"] = rows }, JsonOptions));
            return 0;
        }

        Console.WriteLine($"{"instance",-20} {"hits",10} {"misses",10} {"incomplete",10} {"hit ratio",9} {"results",9} {"blobs",10} {"bytes",14} {"evictions",10} {"corrupt",8}");
        foreach (var instance in stats.Instances)
        {
            Console.WriteLine(Line(instance, instance.InstanceName.Length == 0 ? "\"\"" : instance.InstanceName));
        }

        Console.WriteLine(Line(stats.Total, "(all)"));
        Console.WriteLine($"CAS limit: {stats.MaxBytes} bytes");
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
            action = await clients.ActionCache.GetActionResultAsync(
                new GetActionResultRequest { InstanceName = instanceName, ActionDigest = digest },
                CliOptions.CallOptions(cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            await Console.Error.WriteLineAsync($"rh: no cached result for {digestText} (a miss, or a result whose outputs are gone)").ConfigureAwait(false);
            return CliFailure.ExitFailure;
        }

        if (result.GetValue(CliOptions.Json))
        {
            Console.WriteLine(Google.Protobuf.JsonFormatter.Default.Format(action));
            return 0;
        }

        Console.WriteLine($"action      {digestText}");
        Console.WriteLine($"exit code   {action.ExitCode}");
        foreach (var file in action.OutputFiles)
        {
            Console.WriteLine($"file        {file.Path}  {Digests.ToResourceString(file.Digest)}{(file.IsExecutable ? "  executable" : "")}");
        }

        foreach (var directory in action.OutputDirectories)
        {
            Console.WriteLine($"directory   {directory.Path}  tree {Digests.ToResourceString(directory.TreeDigest)}");
        }

        foreach (var link in action.OutputSymlinks)
        {
            Console.WriteLine($"symlink     {link.Path} -> {link.Target}");
        }

        Console.WriteLine($"stdout      {Size(action.StdoutDigest, action.StdoutRaw.Length)} bytes");
        Console.WriteLine($"stderr      {Size(action.StderrDigest, action.StderrRaw.Length)} bytes");
        if (action.ExecutionMetadata is { Worker.Length: > 0 } metadata)
        {
            Console.WriteLine($"worker      {metadata.Worker}");
        }

        return 0;
    }

    private static long Size(Digest? digest, int inline) => digest?.SizeBytes ?? inline;

    private static string Ratio(CacheStats s)
    {
        var lookups = s.Hits + s.Misses + s.Incomplete;
        return lookups == 0 ? "-" : ((double)s.Hits / lookups).ToString("P1", CultureInfo.InvariantCulture);
    }

    private static string Line(CacheStats s, string name) =>
        $"{name,-20} {s.Hits,10} {s.Misses,10} {s.Incomplete,10} {Ratio(s),9} {s.ActionResults,9} {s.Blobs,10} {s.Bytes,14} {s.Evictions,10} {s.Corrupt,8}";

    private static Dictionary<string, object> Row(CacheStats s, string name) => new()
    {
        ["instance"] = name,
        ["hits"] = s.Hits,
        ["misses"] = s.Misses,
        ["incomplete"] = s.Incomplete,
        ["hit_ratio"] = s.Hits + s.Misses + s.Incomplete == 0 ? 0.0 : (double)s.Hits / (s.Hits + s.Misses + s.Incomplete),
        ["action_results"] = s.ActionResults,
        ["blobs"] = s.Blobs,
        ["bytes"] = s.Bytes,
        ["evictions"] = s.Evictions,
        ["corrupt"] = s.Corrupt,
    };
}
