using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace RaftHead.Cli.Demo;

/// <summary><c>rh demo</c>'s closing summary for a person, and the same facts as JSON for <c>--json</c>.</summary>
internal static class DemoOutput
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Per build: wall time, nodes run and cached, the cache hit ratio; then the leader change.</summary>
    public static string Summary(DemoReport report, HumanOutput output)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(output);
        return output.Render(console =>
        {
            var table = output.Table("build", ">wall time", ">nodes", ">ran", ">cached", ">cache hits", ">watch resumed");
            foreach (var build in report.Builds)
            {
                table.AddRow(
                    output.Cell(build.Name),
                    output.Cell(Seconds(build.WallMs)),
                    output.Cell(Count(build.Nodes)),
                    output.Cell(Count(build.Ran)),
                    output.Cell(Count(build.Cached)),
                    output.Cell(Percent(build.CacheHitRatio), build.CacheHitRatio >= 1 ? Color.Green : null),
                    output.Cell(Count(build.WatchResumes) + "x"));
            }

            console.Write(table);
            if (report.LeaderChange is { } change)
            {
                console.WriteLine(LeaderChangeLine(change));
            }
        });
    }

    public static string LeaderChangeLine(LeaderChange change) => string.Create(
        CultureInfo.InvariantCulture,
        $"leader change: head {change.Killed} (term {change.TermBefore}) killed, head {change.NewLeader} elected in {change.ElectionMs} ms (term {change.TermAfter})");

    public static string Json(DemoReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var builds = new JsonArray();
        foreach (var build in report.Builds)
        {
            builds.Add(new JsonObject
            {
                ["name"] = build.Name,
                ["graph_id"] = build.GraphId,
                ["completed"] = build.Complete,
                ["nodes"] = build.Nodes,
                ["ran"] = build.Ran,
                ["cached"] = build.Cached,
                ["failed"] = build.Failed,
                ["cancelled"] = build.Cancelled,
                ["submissions"] = build.Submissions,
                ["cache_hit_ratio"] = build.CacheHitRatio,
                ["wall_ms"] = build.WallMs,
                ["blobs"] = build.Blobs,
                ["uploaded_blobs"] = build.Uploaded,
                ["uploaded_bytes"] = build.UploadedBytes,
                ["watch_resumes"] = build.WatchResumes,
                ["watch_ended_on"] = build.WatchedLast,
            });
        }

        var json = new JsonObject
        {
            ["ok"] = report.Succeeded,
            ["failure"] = report.Failure,
            ["cluster"] = new JsonObject
            {
                ["heads"] = new JsonArray([.. report.Heads.Select(h => (JsonNode)JsonValue.Create(h))]),
                ["workers"] = report.Workers,
                ["leader"] = report.FirstLeader,
                ["ready_ms"] = report.ReadyMs,
            },
            ["leader_change"] = report.LeaderChange is not { } change ? null : new JsonObject
            {
                ["killed"] = change.Killed,
                ["killed_pid"] = change.KilledPid,
                ["killed_while"] = change.KilledWhile,
                ["term_before"] = change.TermBefore,
                ["new_leader"] = change.NewLeader,
                ["term_after"] = change.TermAfter,
                ["election_ms"] = change.ElectionMs,
                ["restarted_pid"] = change.RestartedPid,
            },
            ["builds"] = builds,
            ["program"] = report.Program is not { } program ? null : new JsonObject
            {
                ["digest"] = program.Digest,
                ["size_bytes"] = program.SizeBytes,
                ["exit_code"] = program.ExitCode,
                ["output"] = program.Output,
            },
            ["data_directory"] = report.DataDirectory,
            ["kept"] = report.Kept,
        };
        return json.ToJsonString(JsonOptions);
    }

    public static string Seconds(long ms) => (ms / 1000.0).ToString("0.0", CultureInfo.InvariantCulture) + " s";

    public static string Percent(double ratio) => (100 * ratio).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    private static string Count(int count) => count.ToString(CultureInfo.InvariantCulture);
}
