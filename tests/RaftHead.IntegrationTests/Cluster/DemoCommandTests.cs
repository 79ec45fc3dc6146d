using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace RaftHead.IntegrationTests.Cluster;

/// <summary>
/// <c>rh demo</c> as a person (or CI) runs it: its own cluster, the project built through a leader kill and then from
/// the cache, the program run; every process it started gone when it exits, on its own or on SIGTERM.
/// </summary>
[Collection(RhUpCluster.Collection)]
public sealed class DemoCommandTests(ITestOutputHelper output)
{
    /// <summary>The demo runs in CI: it must finish well within this on a small machine.</summary>
    private static readonly TimeSpan DemoBound = TimeSpan.FromSeconds(60);

    [Fact(Timeout = 90_000)]
    public async Task Rh_demo_survives_the_leader_kill_builds_from_the_cache_the_second_time_and_runs_the_program()
    {
        var result = await ProcessRunner.RunAsync(RhServerProcess.DotnetHost, [RhServerProcess.RhDll, "demo", "--json", "--keep"], DemoBound);
        using var json = ParseJson(result);
        var root = json.RootElement;
        var directory = root.GetProperty("data_directory").GetString()!;
        try
        {
            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.True(root.GetProperty("ok").GetBoolean());
            Assert.Equal(JsonValueKind.Null, root.GetProperty("failure").ValueKind);

            // The leader was killed during the first build and another head took over.
            var change = root.GetProperty("leader_change");
            var killed = change.GetProperty("killed").GetInt64();
            var elected = change.GetProperty("new_leader").GetInt64();
            Assert.NotEqual(killed, elected);
            Assert.InRange(elected, 1, 3);
            Assert.True(change.GetProperty("term_after").GetInt64() > change.GetProperty("term_before").GetInt64(), change.ToString());
            Assert.InRange(change.GetProperty("election_ms").GetInt64(), 1, 20_000);
            Assert.NotEqual(JsonValueKind.Null, change.GetProperty("restarted_pid").ValueKind);

            var builds = root.GetProperty("builds").EnumerateArray().ToList();
            Assert.Equal(2, builds.Count);
            var cold = builds[0];
            var warm = builds[1];
            Assert.True(cold.GetProperty("completed").GetBoolean(), cold.ToString());
            Assert.Equal(6, cold.GetProperty("nodes").GetInt32());
            Assert.Equal(6, cold.GetProperty("ran").GetInt32());
            // The watch was on the killed leader: it went on from another head.
            Assert.True(cold.GetProperty("watch_resumes").GetInt32() >= 1, cold.ToString());
            Assert.NotEqual(Endpoint(root, killed), cold.GetProperty("watch_ended_on").GetString());

            Assert.True(warm.GetProperty("completed").GetBoolean(), warm.ToString());
            Assert.Equal(6, warm.GetProperty("cached").GetInt32());
            Assert.Equal(0, warm.GetProperty("ran").GetInt32());
            Assert.Equal(1.0, warm.GetProperty("cache_hit_ratio").GetDouble());
            Assert.Equal(0, warm.GetProperty("uploaded_blobs").GetInt32());

            var program = root.GetProperty("program");
            Assert.Equal(0, program.GetProperty("exit_code").GetInt32());
            Assert.Equal("HELLO, WORLD", program.GetProperty("output").GetString());

            // Nothing the demo started outlives it.
            Assert.Empty(ProcessesMentioning(directory));
            Assert.False(PosixSignals.IsRunning(change.GetProperty("restarted_pid").GetInt32()), "the restarted head still runs");
            output.WriteLine(root.ToString());
        }
        catch
        {
            output.WriteLine(result.Describe());
            var log = Path.Combine(directory, "cluster.log");
            if (File.Exists(log))
            {
                output.WriteLine(await File.ReadAllTextAsync(log));
            }

            throw;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = 90_000)]
    public async Task Sigterm_stops_the_demos_cluster_and_removes_its_directory()
    {
        await using var demo = ChildProcess.StartRh("demo");
        var (first, _) = await demo.WaitForLineAsync(l => l.StartsWith("rh demo: starting ", StringComparison.Ordinal), DemoBound);
        var directory = first[(first.LastIndexOf(" in ", StringComparison.Ordinal) + 4)..];
        await demo.WaitForLineAsync(l => l.StartsWith("cluster ready in ", StringComparison.Ordinal), DemoBound);
        var children = RhUpCluster.ChildrenOf(demo.ProcessId);
        Assert.True(children.Count == 5, $"expected 3 heads and 2 workers as children, found {children.Count}\n{demo.Log}");

        demo.Terminate();

        Assert.Equal(1, await demo.WaitForExitAsync(DemoBound));
        var alive = children.Where(PosixSignals.IsRunning).ToList();
        Assert.True(alive.Count == 0, $"still running after rh demo exited: {string.Join(',', alive.Select(p => p.ToString(CultureInfo.InvariantCulture)))}\n{demo.Log}");
        Assert.Contains("stderr: rh: demo failed: interrupted", demo.Log, StringComparison.Ordinal);
        Assert.False(Directory.Exists(directory), $"{directory} is left behind\n{demo.Log}");
    }

    private static JsonDocument ParseJson(ProcessResult result)
    {
        try
        {
            return JsonDocument.Parse(result.StandardOutput);
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"rh demo --json printed something other than one JSON document: {e.Message}\n{result.Describe()}", e);
        }
    }

    private static string Endpoint(JsonElement root, long headId) =>
        root.GetProperty("cluster").GetProperty("heads")[(int)headId - 1].GetString()!;

    /// <summary>Processes whose command line names <paramref name="text"/> (the demo's heads and workers name their data directory).</summary>
    private static List<int> ProcessesMentioning(string text)
    {
        var found = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(directory, "cmdline")).Contains(text, StringComparison.Ordinal) && PosixSignals.IsRunning(pid))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }

        return found;
    }
}
