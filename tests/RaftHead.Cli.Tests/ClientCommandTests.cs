using System.Text.Json;
using Grpc.Core;
using RaftHead.Head.Admin;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Tests;

/// <summary>
/// <c>rh workers</c>, <c>rh ops</c> and <c>rh cache stats</c> run as a user runs them, against a head whose answers
/// the test chose: <c>--json</c> checked field by field, the text as rendered, and the failures a person meets.
/// </summary>
public sealed class ClientCommandTests : IAsyncLifetime
{
    private readonly List<ListOperationsRequest> _opsAsked = [];
    private FakeHead _head = null!;
    private int _noLeaderAnswersLeft;

    public async Task InitializeAsync()
    {
        _head = await FakeHead.StartAsync(new AdminService(Samples.CacheStats, ListOperations, () => LeaderOnly()));
    }

    public async Task DisposeAsync() => await _head.DisposeAsync();

    /// <summary>The sample leader, alone in its cluster at the fake's address (so no other port is ever asked).</summary>
    private GetNodeStatusResponse LeaderOnly()
    {
        var leader = Samples.Leader(1, _head.Address);
        leader.Members.Clear();
        leader.Members.Add(new ClusterMember { Id = 1, Address = _head.Address, Voter = true });
        return leader;
    }

    private ListOperationsResponse ListOperations(ListOperationsRequest request)
    {
        lock (_opsAsked)
        {
            _opsAsked.Add(request);
        }

        if (Interlocked.Decrement(ref _noLeaderAnswersLeft) >= 0)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "This head is not the leader: no leader is known yet; retry shortly."), LeaderHint.NoLeaderTrailers());
        }

        var all = Samples.Operations();
        if (request.Outcome != OutcomeFilter.DeadLettered)
        {
            return all;
        }

        var dead = new ListOperationsResponse { ExecutionEnabled = true, Queued = all.Queued, Running = all.Running, Slots = all.Slots };
        dead.Operations.Add(all.Operations.Where(o => o.DeadLettered));
        return dead;
    }

    [Fact]
    public async Task Workers_json_has_every_field_of_every_worker_and_its_state()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("workers", "--json", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal(1, root.GetProperty("leader").GetProperty("id").GetInt64());
        Assert.Equal(_head.Address, root.GetProperty("leader").GetProperty("address").GetString());
        Assert.Equal(9, root.GetProperty("term").GetInt64());
        Assert.Equal(1_000, root.GetProperty("heartbeat_interval_ms").GetInt32());
        Assert.Equal(10_000, root.GetProperty("heartbeat_ttl_ms").GetInt32());
        var workers = root.GetProperty("workers").EnumerateArray().ToList();
        Assert.Equal(["build-01", "gpu-01", "build-02", "build-03", "build-04"], workers.Select(w => w.GetProperty("id").GetString()));
        Assert.Equal(["ok", "retiring", "silent", "unknown", "quarantined"], workers.Select(w => w.GetProperty("state").GetString()));
        Assert.Equal("outputs differ from other workers'", workers[4].GetProperty("quarantine_reason").GetString());
        Assert.Equal(Samples.Now.AddMinutes(-12), DateTimeOffset.Parse(workers[4].GetProperty("quarantined_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.All(workers[..4], w => Assert.Equal(JsonValueKind.Null, w.GetProperty("quarantine_reason").ValueKind));
        Assert.All(workers[..4], w => Assert.Equal(JsonValueKind.Null, w.GetProperty("quarantined_at").ValueKind));

        var ok = workers[0];
        Assert.Equal(8u, ok.GetProperty("slots").GetUInt32());
        Assert.Equal(4u, ok.GetProperty("leased").GetUInt32());
        Assert.Equal(4u, ok.GetProperty("running").GetUInt32());
        Assert.Equal(0u, ok.GetProperty("lease_ahead").GetUInt32());
        Assert.Equal(16_000u, ok.GetProperty("cpu_millis").GetUInt32());
        Assert.Equal(4_000ul, ok.GetProperty("cpu_millis_leased").GetUInt64());
        Assert.Equal(64UL << 30, ok.GetProperty("memory_bytes").GetUInt64());
        Assert.Equal(6UL << 30, ok.GetProperty("memory_bytes_leased").GetUInt64());
        Assert.Equal(0u, ok.GetProperty("gpus").GetUInt32());
        Assert.Equal(420, ok.GetProperty("last_heartbeat_age_ms").GetInt64());
        Assert.False(ok.GetProperty("retiring").GetBoolean());
        Assert.Equal(Samples.Now.AddHours(-26), DateTimeOffset.Parse(ok.GetProperty("registered_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("linux", ok.GetProperty("platform").GetProperty("OSFamily").GetString());
        Assert.Equal("default", ok.GetProperty("platform").GetProperty("pool").GetString());

        // Three leases on two slots and one lease ahead: two run, one waits on the worker.
        var retiring = workers[1];
        Assert.True(retiring.GetProperty("retiring").GetBoolean());
        Assert.Equal((3u, 2u, 1u, 4u), (retiring.GetProperty("leased").GetUInt32(), retiring.GetProperty("running").GetUInt32(), retiring.GetProperty("lease_ahead").GetUInt32(), retiring.GetProperty("gpus").GetUInt32()));

        Assert.Equal(7_250, workers[2].GetProperty("last_heartbeat_age_ms").GetInt64());
        Assert.Equal(JsonValueKind.Null, workers[3].GetProperty("last_heartbeat_age_ms").ValueKind);
        Assert.Equal(JsonValueKind.Null, workers[3].GetProperty("registered_at").ValueKind);
    }

    [Fact]
    public async Task Workers_text_off_a_terminal_is_the_plain_table()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("workers", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        Assert.Equal(WorkersOutput.Render(LeaderOnly(), HumanOutput.Plain), stdout);
        Assert.DoesNotContain("\u001b[", stdout, StringComparison.Ordinal);
        Assert.Contains(stdout.Split('\n'), l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["build-02", "silent", "1/4", "-", "-", "0", "7.2s", "ago", "OSFamily=linux"]);
        Assert.Contains(stdout.Split('\n'), l => l.StartsWith("build-04  quarantined: outputs differ from other workers'  ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ops_dead_asks_the_head_for_dead_lettered_operations_and_json_carries_attempts_and_reasons()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("ops", "--state", "dead", "--json", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        var asked = Assert.Single(_opsAsked);
        Assert.Equal(OutcomeFilter.DeadLettered, asked.Outcome);
        Assert.Empty(asked.Stages);
        Assert.Equal(50, asked.Limit);

        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.True(root.GetProperty("executionEnabled").GetBoolean());
        Assert.Equal((1, 1, 18), (root.GetProperty("queued").GetInt32(), root.GetProperty("running").GetInt32(), root.GetProperty("slots").GetInt32()));
        var op = Assert.Single(root.GetProperty("operations").EnumerateArray().ToList());
        Assert.Equal("operations/7f3a-12", op.GetProperty("name").GetString());
        Assert.Equal("COMPLETED", op.GetProperty("stage").GetString());
        Assert.Equal(new string('e', 64), op.GetProperty("actionDigest").GetProperty("hash").GetString());
        Assert.Equal("154", op.GetProperty("actionDigest").GetProperty("sizeBytes").GetString());
        Assert.True(op.GetProperty("deadLettered").GetBoolean());
        Assert.False(op.GetProperty("cancelled").GetBoolean());
        Assert.False(op.GetProperty("cachedResult").GetBoolean());
        Assert.Equal(3u, op.GetProperty("attempts").GetUInt32());
        Assert.Equal("build-03", op.GetProperty("worker").GetString());
        Assert.Equal((int)StatusCode.Aborted, op.GetProperty("statusCode").GetInt32());
        Assert.Equal("operations/7f3a-12 gave up after 3 attempt(s)", op.GetProperty("statusMessage").GetString());
        Assert.Equal("build-1", op.GetProperty("toolInvocationId").GetString());
        Assert.Equal(Samples.Now.AddSeconds(-40), DateTimeOffset.Parse(op.GetProperty("completedAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        var failures = op.GetProperty("failures").EnumerateArray().ToList();
        Assert.Equal([1u, 2u, 3u], failures.Select(f => f.GetProperty("attempt").GetUInt32()));
        Assert.Equal(["build-02", "build-01", "build-03"], failures.Select(f => f.GetProperty("workerId").GetString()));
        Assert.Equal("sandbox setup failed: No space left on device", failures[1].GetProperty("reason").GetString());
    }

    [Theory]
    [InlineData("failed", OutcomeFilter.Failed, 0)]
    [InlineData("done", OutcomeFilter.Any, 1)]
    [InlineData("queued", OutcomeFilter.Any, 1)]
    public async Task Ops_state_becomes_the_heads_filter(string state, OutcomeFilter outcome, int stages)
    {
        var (code, _, stderr) = await RhProcess.RunAsync("ops", "--state", state, "--limit", "7", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        var asked = Assert.Single(_opsAsked);
        Assert.Equal(outcome, asked.Outcome);
        Assert.Equal(stages, asked.Stages.Count);
        Assert.Equal(7, asked.Limit);
    }

    [Fact]
    public async Task Ops_text_names_each_failed_attempt_of_a_dead_operation()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("ops", "--state", "dead", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n');
        var row = Assert.Single(lines, l => l.StartsWith("operations/7f3a-12 ", StringComparison.Ordinal));
        Assert.Equal(["operations/7f3a-12", "dead", "Aborted", "3"], row.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..4]);
        Assert.Contains("operations/7f3a-12: dead after 3 attempt(s)", lines);
        Assert.Contains("  attempt 2 on build-01: sandbox setup failed: No space left on device", lines);
    }

    [Fact]
    public async Task Ops_asks_again_while_no_leader_is_known_and_says_so_once()
    {
        // More refusals than the channel's own retries of an idempotent call (5 attempts) absorb, so rh's retry is what answers.
        _noLeaderAnswersLeft = 7;

        var (code, stdout, stderr) = await RhProcess.RunAsync("ops", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        Assert.Equal("rh: no leader yet; retrying\n", stderr);
        Assert.Equal(8, _opsAsked.Count);
        Assert.StartsWith("queued 1, running 1 of 18 slot(s)\n", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Negative_limit_is_a_usage_failure()
    {
        var (code, _, stderr) = await RhProcess.RunAsync("ops", "--limit", "-1", "--endpoint", _head.Address);

        Assert.Equal(2, code);
        Assert.Equal("rh: --limit -1 must not be negative\n", stderr);
        Assert.Empty(_opsAsked);
    }

    [Fact]
    public async Task Cache_stats_json_has_every_counter_of_each_instance_and_the_total_first()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("cache", "stats", "--json", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(10L << 30, json.RootElement.GetProperty("max_bytes").GetInt64());
        var rows = json.RootElement.GetProperty("instances").EnumerateArray().ToList();
        Assert.Equal(["(all)", "", "ci"], rows.Select(r => r.GetProperty("instance").GetString()));
        var all = rows[0];
        Assert.Equal(1_754, all.GetProperty("hits").GetInt64());
        Assert.Equal(240, all.GetProperty("misses").GetInt64());
        Assert.Equal(6, all.GetProperty("incomplete").GetInt64());
        Assert.Equal(1_754 / 2_000.0, all.GetProperty("hit_ratio").GetDouble(), 9);
        Assert.Equal(1_990, all.GetProperty("action_results").GetInt64());
        Assert.Equal(48_210, all.GetProperty("blobs").GetInt64());
        Assert.Equal(3_612_345_678, all.GetProperty("bytes").GetInt64());
        Assert.Equal(12, all.GetProperty("evictions").GetInt64());
        Assert.Equal(0, all.GetProperty("corrupt").GetInt64());
        Assert.Equal(1, rows[2].GetProperty("corrupt").GetInt64());
        Assert.Equal(4 / 44.0, rows[2].GetProperty("hit_ratio").GetDouble(), 9);
    }

    [Fact]
    public async Task Cache_stats_text_shows_sizes_in_binary_units()
    {
        var (code, stdout, stderr) = await RhProcess.RunAsync("cache", "stats", "--endpoint", _head.Address);

        Assert.True(code == 0, stderr);
        Assert.Contains("CAS: 3.4 GiB of 10 GiB (33.6%)", stdout.Split('\n'));
        Assert.DoesNotContain("3612345678", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ops")]
    [InlineData("workers")]
    [InlineData("cache stats")]
    [InlineData("cache get ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/3")]
    public async Task An_unreachable_head_is_one_line_naming_it_and_the_reason(string command)
    {
        var endpoint = $"127.0.0.1:{FakeHead.FreePort()}";

        var (code, stdout, stderr) = await RhProcess.RunAsync([.. command.Split(' '), "--endpoint", endpoint]);

        Assert.Equal(3, code);
        Assert.Empty(stdout);
        Assert.Equal($"rh: cannot reach {endpoint}: connection refused\n", stderr);
    }
}
