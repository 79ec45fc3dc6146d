using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using RaftHead.Head.Admin;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Tests;

/// <summary>
/// <c>rh workers quarantine</c> and <c>release</c>, the speculation line of <c>rh status</c> and the clones of
/// <c>rh ops</c>, run as a user runs them against a head whose admin service quarantines through a scheduler log the
/// test holds.
/// </summary>
public sealed class SpeculationCommandTests : IAsyncLifetime
{
    private static readonly DateTimeOffset HeadNow = new(2026, 6, 1, 8, 30, 0, TimeSpan.Zero);

    private readonly FakeSchedulerLog _log = new("build-01", "build-02");
    private FakeHead _head = null!;

    public async Task InitializeAsync()
    {
        var quarantine = new WorkerQuarantine(_log, new FakeTimeProvider(HeadNow), TimeSpan.FromMilliseconds(100));
        _head = await FakeHead.StartAsync(new AdminService(Samples.CacheStats, _ => Samples.Operations(), LeaderOnly, quarantine));
    }

    public async Task DisposeAsync() => await _head.DisposeAsync();

    private GetNodeStatusResponse LeaderOnly()
    {
        var leader = Samples.Leader(1, _head.Address);
        leader.Members.Clear();
        leader.Members.Add(new ClusterMember { Id = 1, Address = _head.Address, Voter = true });
        return leader;
    }

    [Fact]
    public async Task Quarantine_sends_the_worker_and_the_reason_and_says_how_to_undo_it()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("workers", "quarantine", "build-02", "--reason", "disk returns bad blocks", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        Assert.Equal("quarantined build-02: it gets no new leases and what it ran is queued again (undo with: rh workers release build-02)\n", stdout);
        var proposed = Assert.Single(_log.Proposed).QuarantineWorker;
        Assert.Equal(("build-02", "disk returns bad blocks"), (proposed.WorkerId, proposed.Reason));
        Assert.Equal(HeadNow.ToUnixTimeMilliseconds(), proposed.AtUnixMs);
    }

    [Fact]
    public async Task Release_sends_the_worker_alone_and_json_says_what_was_done()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("workers", "release", "build-01", "--json", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        Assert.Equal("build-01", Assert.Single(_log.Proposed).ReleaseWorker.WorkerId);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("build-01", json.RootElement.GetProperty("worker").GetString());
        Assert.False(json.RootElement.GetProperty("quarantined").GetBoolean());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("reason").ValueKind);
    }

    [Theory]
    [InlineData("quarantine", "--reason", "flaky")]
    [InlineData("release")]
    public async Task An_unknown_worker_is_named_and_fails(params string[] command)
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync(["workers", command[0], "build-99", .. command[1..], "--endpoint", _head.Address]);

        Assert.Equal(1, code);
        Assert.Empty(stdout);
        Assert.Equal("rh: no worker 'build-99' is registered (rh workers lists them)\n", stderr);
    }

    [Theory]
    [InlineData("rh: --reason must say why the worker is quarantined (rh workers shows it)\n", "build-01")]
    [InlineData("rh: --reason must say why the worker is quarantined (rh workers shows it)\n", "build-01", "--reason", "  ")]
    [InlineData("rh: the worker's id must not be empty (rh workers lists them)\n", " ", "--reason", "flaky")]
    public async Task A_quarantine_without_a_reason_or_a_worker_is_a_usage_failure_and_asks_nothing(string message, params string[] arguments)
    {
        var (code, _, stderr) = await RhProcess.RunAsync(["workers", "quarantine", .. arguments, "--endpoint", _head.Address]);

        Assert.Equal(2, code);
        Assert.Equal(message, stderr);
        Assert.Empty(_log.Proposed);
    }

    [Fact]
    public async Task A_reason_the_head_refuses_is_its_message()
    {
        var (code, _, stderr) = await RhProcess.RunAsync("workers", "quarantine", "build-01", "--reason", new string('x', 501), "--endpoint", _head.Address);

        Assert.Equal(1, code);
        Assert.Equal("rh: InvalidArgument: reason: 501 characters; at most 500\n", stderr);
        Assert.Empty(_log.Proposed);
    }

    [Fact]
    public async Task A_head_that_schedules_nothing_says_it_cannot_quarantine()
    {
        await using var cacheOnly = await FakeHead.StartAsync(new AdminService(Samples.CacheStats, _ => new ListOperationsResponse()));

        var (code, _, stderr) = await RhProcess.RunAsync("workers", "release", "build-01", "--endpoint", cacheOnly.Address);

        Assert.Equal(1, code);
        Assert.Equal($"rh: {cacheOnly.Address} cannot quarantine workers: this head schedules no workers, so it has none to quarantine\n", stderr);
    }

    [Fact]
    public async Task Status_text_has_the_speculation_line_and_the_latest_disagreeing_runs_first()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("status", "--heads", _head.Address);

        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n');
        var at = Array.IndexOf(lines, "speculation: 6 clone(s) started, 2 won, 1m 34s of worker time lost to races; 3 non-deterministic action(s)");
        Assert.True(at >= 0, stdout);
        // Ages depend on the wall clock; the order and the rest of each line do not.
        Assert.EndsWith($"{Samples.Digest('7', 140).Hash}/140 (link) operations/7f3a-9: attempt 1 on build-01 and attempt 2 on build-04 differ in out/app", lines[at + 1], StringComparison.Ordinal);
        Assert.EndsWith("operations/7f3a-7: attempt 1 on build-01 and attempt 2 on build-04 differ in out/a.o, out/b.o, out/c.o and 2 more", lines[at + 2], StringComparison.Ordinal);
        Assert.EndsWith($"{Samples.Digest('6', 140).Hash}/140 operations/7f3a-5: attempt 1 on build-01 and its verification run operations/7f3a-6 on build-04 differ in (exit code)", lines[at + 3], StringComparison.Ordinal);
        Assert.Equal("  (1 earlier report(s): rh status --json lists them)", lines[at + 4]);
    }

    [Fact]
    public async Task Status_json_carries_the_counters_and_every_report_oldest_first()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("status", "--json", "--heads", _head.Address);

        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var speculation = json.RootElement.GetProperty("speculation");
        Assert.Equal(6u, speculation.GetProperty("clones_started").GetUInt32());
        Assert.Equal(2u, speculation.GetProperty("clones_won").GetUInt32());
        Assert.Equal(94_500, speculation.GetProperty("wasted_worker_ms").GetInt64());
        Assert.Equal(3, speculation.GetProperty("nondeterministic_actions").GetInt32());
        var reports = speculation.GetProperty("nondeterminism").EnumerateArray().ToList();
        Assert.Equal(["operations/7f3a-3", "operations/7f3a-5", "operations/7f3a-7", "operations/7f3a-9"], reports.Select(r => r.GetProperty("operation").GetString()));
        var first = reports[0];
        Assert.Equal(Samples.Digest('5', 140).Hash + "/140", first.GetProperty("action_digest").GetString());
        Assert.Equal("cc", first.GetProperty("action_class").GetString());
        Assert.Equal((1u, "build-01", 2u, "build-04"), (first.GetProperty("winner_attempt").GetUInt32(), first.GetProperty("winner_worker").GetString(), first.GetProperty("other_attempt").GetUInt32(), first.GetProperty("other_worker").GetString()));
        Assert.Equal(Samples.Now.AddMinutes(-50), DateTimeOffset.Parse(first.GetProperty("at").GetString()!, CultureInfo.InvariantCulture));
        Assert.Equal(JsonValueKind.Null, first.GetProperty("verified_by").ValueKind);
        Assert.Equal("operations/7f3a-6", reports[1].GetProperty("verified_by").GetString());
        var difference = Assert.Single(first.GetProperty("differences").EnumerateArray().ToList());
        Assert.Equal("out/a.o", difference.GetProperty("path").GetString());
        Assert.Equal(new string('1', 64) + "/10", difference.GetProperty("winner").GetString());
        Assert.Equal(new string('2', 64) + "/10", difference.GetProperty("other").GetString());
        Assert.Equal(5, reports[2].GetProperty("differences").GetArrayLength());
    }

    [Fact]
    public async Task Ops_shows_the_clones_raced_against_each_operation_and_json_carries_them()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("ops", "--endpoint", _head.Address);
        var (jsonCode, jsonText, jsonError) = await RhProcess.RunAsync("ops", "--json", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        Assert.True(jsonCode == 0, jsonError);
        var lines = stdout.Split('\n');
        Assert.Equal(["operations/7f3a-13", "failed", "exit", "1", "1", "1", "(won)"], Assert.Single(lines, l => l.StartsWith("operations/7f3a-13 ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[..7]);
        Assert.Equal(["operations/7f3a-15", "running", "-", "2", "1"], Assert.Single(lines, l => l.StartsWith("operations/7f3a-15 ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[..5]);
        Assert.Equal(["operations/7f3a-12", "dead", "Aborted", "3", "-"], Assert.Single(lines, l => l.StartsWith("operations/7f3a-12 ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[..5]);
        using var json = JsonDocument.Parse(jsonText);
        var ops = json.RootElement.GetProperty("operations").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        Assert.Equal(1u, ops["operations/7f3a-13"].GetProperty("clones").GetUInt32());
        Assert.True(ops["operations/7f3a-13"].GetProperty("cloneWon").GetBoolean());
        Assert.Equal(1u, ops["operations/7f3a-15"].GetProperty("clones").GetUInt32());
        Assert.False(ops["operations/7f3a-15"].GetProperty("cloneWon").GetBoolean());
        Assert.Equal(0u, ops["operations/7f3a-12"].GetProperty("clones").GetUInt32());
    }
}
