using System.Text.Json;
using RaftHead.Cli.Demo;
using Snapshooter.Xunit;

namespace RaftHead.Cli.Tests.Demo;

/// <summary><c>rh demo</c>'s closing summary and its <c>--json</c> facts, from a fixed run.</summary>
public sealed class DemoOutputTests
{
    [Fact]
    public void Summary() => Snapshot.Match(DemoOutput.Summary(Run(), HumanOutput.Plain));

    [Fact]
    public void Json_has_the_facts_a_script_checks()
    {
        using var json = JsonDocument.Parse(DemoOutput.Json(Run()));
        var root = json.RootElement;

        Assert.True(root.GetProperty("ok").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("failure").ValueKind);
        var change = root.GetProperty("leader_change");
        Assert.Equal(3, change.GetProperty("killed").GetInt64());
        Assert.Equal(1, change.GetProperty("new_leader").GetInt64());
        Assert.Equal(412, change.GetProperty("election_ms").GetInt64());
        Assert.Equal(4242, change.GetProperty("restarted_pid").GetInt32());
        var builds = root.GetProperty("builds").EnumerateArray().ToList();
        Assert.Equal(["cold", "warm"], builds.Select(b => b.GetProperty("name").GetString()));
        Assert.Equal([0.0, 1.0], builds.Select(b => b.GetProperty("cache_hit_ratio").GetDouble()));
        Assert.Equal([6, 0], builds.Select(b => b.GetProperty("ran").GetInt32()));
        Assert.Equal([0, 6], builds.Select(b => b.GetProperty("cached").GetInt32()));
        Assert.Equal([true, true], builds.Select(b => b.GetProperty("completed").GetBoolean()));
        Assert.Equal("HELLO, WORLD", root.GetProperty("program").GetProperty("output").GetString());
        Assert.Equal("/tmp/rh-demo-x", root.GetProperty("data_directory").GetString());
    }

    [Fact]
    public void A_failed_run_says_why_and_how_far_it_came()
    {
        var report = new DemoReport { DataDirectory = "/tmp/rh-demo-x", Failure = "no new leader was elected within 20 s of killing head 3" };
        report.Builds.Add(Cold());

        using var json = JsonDocument.Parse(DemoOutput.Json(report));

        Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal(report.Failure, json.RootElement.GetProperty("failure").GetString());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("leader_change").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("program").ValueKind);
        Assert.Single(json.RootElement.GetProperty("builds").EnumerateArray());
    }

    private static DemoReport Run()
    {
        var report = new DemoReport
        {
            DataDirectory = "/tmp/rh-demo-x",
            Heads = ["127.0.0.1:41000", "127.0.0.1:41001", "127.0.0.1:41002"],
            Workers = 2,
            FirstLeader = 3,
            ReadyMs = 6_480,
            LeaderChange = new LeaderChange(3, 1234, "src/main.o", 2, 1, 3, 412) { RestartedPid = 4242 },
            Program = new ProgramRun("b05c4d4b37a1062b138d2406f511ceab307f886300807985c3a7284ae1075b2a/16264", 16_264, 0, "HELLO, WORLD"),
        };
        report.Builds.Add(Cold());
        report.Builds.Add(new BuildFacts("warm", "c-hello-warm", 6, 0, 6, 0, 0, 6, 131, 10, 0, 0, 0, "127.0.0.1:41000"));
        return report;
    }

    private static BuildFacts Cold() => new("cold", "c-hello-cold", 6, 6, 0, 0, 0, 6, 2_757, 10, 10, 1_712, 1, "127.0.0.1:41000");
}
