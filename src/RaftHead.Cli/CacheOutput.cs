using System.Globalization;
using System.Text.Json.Nodes;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using Spectre.Console;

namespace RaftHead.Cli;

/// <summary><c>rh cache stats</c> and <c>rh cache get</c> as text, and the stats as <c>--json</c>.</summary>
internal static class CacheOutput
{
    public static string RenderStats(GetCacheStatsResponse stats, HumanOutput output)
    {
        ArgumentNullException.ThrowIfNull(stats);
        ArgumentNullException.ThrowIfNull(output);
        return output.Render(console =>
        {
            var table = output.Table("instance", ">hits", ">misses", ">incomplete", ">hit ratio", ">results", ">blobs", ">bytes", ">evictions", ">corrupt");
            foreach (var instance in stats.Instances)
            {
                AddRow(table, instance, instance.InstanceName.Length == 0 ? "\"\"" : instance.InstanceName, output);
            }

            AddRow(table, stats.Total ?? new CacheStats(), "(all)", output);
            console.Write(table);
            var used = stats.Total?.Bytes ?? 0;
            console.WriteLine(stats.MaxBytes > 0
                ? $"CAS: {Humanize.Bytes(used)} of {Humanize.Bytes(stats.MaxBytes)} ({Humanize.Percent(used, stats.MaxBytes)})"
                : $"CAS: {Humanize.Bytes(used)}, no limit");
        });
    }

    /// <summary>
    /// <c>max_bytes</c> and <c>instances</c>: one object per instance name, then the total as instance <c>(all)</c>
    /// first, each with hits, misses, incomplete, hit_ratio (0..1; 0 with no lookups), action_results, blobs, bytes,
    /// evictions, corrupt.
    /// </summary>
    public static JsonObject StatsJson(GetCacheStatsResponse stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var rows = new JsonArray { Row(stats.Total ?? new CacheStats(), "(all)") };
        foreach (var instance in stats.Instances)
        {
            rows.Add(Row(instance, instance.InstanceName));
        }

        return new JsonObject { ["max_bytes"] = stats.MaxBytes, ["instances"] = rows };
    }

    public static string RenderResult(string digestText, ActionResult action, HumanOutput output)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(output);
        return output.Render(console =>
        {
            console.WriteLine($"action     {digestText}");
            console.WriteLine($"exit code  {action.ExitCode}");
            if (action.ExecutionMetadata is { Worker.Length: > 0 } metadata)
            {
                console.WriteLine($"worker     {metadata.Worker}");
            }

            console.WriteLine($"stdout     {Humanize.Bytes(Size(action.StdoutDigest, action.StdoutRaw.Length))}");
            console.WriteLine($"stderr     {Humanize.Bytes(Size(action.StderrDigest, action.StderrRaw.Length))}");
            var count = action.OutputFiles.Count + action.OutputDirectories.Count + action.OutputSymlinks.Count;
            if (count == 0)
            {
                console.WriteLine("outputs    none");
                return;
            }

            console.WriteLine();
            var table = output.Table("output", "kind", ">size", "digest");
            foreach (var file in action.OutputFiles)
            {
                table.AddRow(output.Cell(file.Path), output.Cell(file.IsExecutable ? "executable" : "file"), output.Cell(Humanize.Bytes(file.Digest?.SizeBytes ?? 0)), HumanOutput.Cropped(file.Digest is null ? "-" : Digests.ToResourceString(file.Digest)));
            }

            foreach (var directory in action.OutputDirectories)
            {
                table.AddRow(output.Cell(directory.Path), output.Cell("directory"), output.Cell("-"), HumanOutput.Cropped("tree " + Digests.ToResourceString(directory.TreeDigest)));
            }

            foreach (var link in action.OutputSymlinks)
            {
                table.AddRow(output.Cell(link.Path), output.Cell("symlink"), output.Cell("-"), output.Cell("-> " + link.Target));
            }

            console.Write(table);
        });
    }

    private static long Size(Digest? digest, int inline) => digest?.SizeBytes ?? inline;

    private static void AddRow(Table table, CacheStats s, string name, HumanOutput output)
    {
        var c = CultureInfo.InvariantCulture;
        table.AddRow(
            output.Cell(name),
            output.Cell(s.Hits.ToString(c)),
            output.Cell(s.Misses.ToString(c)),
            output.Cell(s.Incomplete.ToString(c)),
            output.Cell(Humanize.Percent(s.Hits, Lookups(s))),
            output.Cell(s.ActionResults.ToString(c)),
            output.Cell(s.Blobs.ToString(c)),
            output.Cell(Humanize.Bytes(s.Bytes)),
            output.Cell(s.Evictions.ToString(c)),
            output.Cell(s.Corrupt.ToString(c), s.Corrupt > 0 ? Color.Red : null));
    }

    private static long Lookups(CacheStats s) => s.Hits + s.Misses + s.Incomplete;

    private static JsonObject Row(CacheStats s, string name) => new()
    {
        ["instance"] = name,
        ["hits"] = s.Hits,
        ["misses"] = s.Misses,
        ["incomplete"] = s.Incomplete,
        ["hit_ratio"] = Lookups(s) == 0 ? 0.0 : (double)s.Hits / Lookups(s),
        ["action_results"] = s.ActionResults,
        ["blobs"] = s.Blobs,
        ["bytes"] = s.Bytes,
        ["evictions"] = s.Evictions,
        ["corrupt"] = s.Corrupt,
    };
}
