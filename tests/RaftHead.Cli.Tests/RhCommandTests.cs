using System.Text.Json;
using RaftHead.Head;
using RaftHead.Protocol.Client;
using ActionResult = Build.Bazel.Remote.Execution.V2.ActionResult;
using Digest = Build.Bazel.Remote.Execution.V2.Digest;
using ExecutedActionMetadata = Build.Bazel.Remote.Execution.V2.ExecutedActionMetadata;
using UpdateActionResultRequest = Build.Bazel.Remote.Execution.V2.UpdateActionResultRequest;

namespace RaftHead.Cli.Tests;

/// <summary>The <c>rh</c> contract: <c>--json</c> for scripts, and failures as one line on stderr with a non-zero exit code.</summary>
public sealed class RhCommandTests : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "rh-cli-test-" + Guid.NewGuid().ToString("N"));
    private HeadNode _head = null!;

    public async Task InitializeAsync()
    {
        _head = await HeadNode.StartAsync(new HeadNodeOptions { DataDirectory = _data, Port = 0, CasMaxBytes = 64L << 20 }, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _head.DisposeAsync();
        Directory.Delete(_data, recursive: true);
    }

    private string Endpoint => _head.Address.Authority;

    [Fact]
    public async Task Cache_stats_json_has_the_all_instances_row()
    {
        var (code, stdout, stderr) = await RunAsync("cache", "stats", "--json", "--endpoint", Endpoint);
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var rows = json.RootElement.GetProperty("instances").EnumerateArray().ToList();
        Assert.Contains(rows, r => r.GetProperty("instance").GetString() == "(all)");
        Assert.Equal(64L << 20, json.RootElement.GetProperty("max_bytes").GetInt64());
    }

    [Fact]
    public async Task Ops_says_when_the_head_does_not_execute()
    {
        var (code, stdout, stderr) = await RunAsync("ops", "--json", "--endpoint", Endpoint);
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.False(json.RootElement.TryGetProperty("executionEnabled", out var enabled) && enabled.GetBoolean());
    }

    [Fact]
    public async Task Cache_get_shows_a_stored_result_as_json_field_by_field_and_as_text()
    {
        const string digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/3";
        var stored = new ActionResult
        {
            ExitCode = 3,
            StdoutRaw = Google.Protobuf.ByteString.CopyFromUtf8("hello"),
            ExecutionMetadata = new ExecutedActionMetadata { Worker = "w-1" },
        };
        var clients = new ReapiClients(GrpcChannels.Shared.For(Endpoint));
        await clients.ActionCache.UpdateActionResultAsync(new UpdateActionResultRequest
        {
            ActionDigest = new Digest { Hash = digest[..64], SizeBytes = 3 },
            ActionResult = stored,
        });

        var (code, stdout, stderr) = await RunAsync("cache", "get", digest, "--json", "--endpoint", Endpoint);
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal(3, root.GetProperty("exitCode").GetInt32());
        Assert.Equal("hello", System.Text.Encoding.UTF8.GetString(root.GetProperty("stdoutRaw").GetBytesFromBase64()));
        Assert.Equal("w-1", root.GetProperty("executionMetadata").GetProperty("worker").GetString());
        Assert.Empty(root.GetProperty("outputFiles").EnumerateArray());

        (code, stdout, stderr) = await RunAsync("cache", "get", digest, "--endpoint", Endpoint);
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n');
        Assert.Contains("exit code  3", lines);
        Assert.Contains("stdout     5 B", lines);
        Assert.Contains("outputs    none", lines);
    }

    [Fact]
    public async Task A_cache_miss_is_a_one_line_failure()
    {
        var (code, _, stderr) = await RunAsync("cache", "get", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/3", "--endpoint", Endpoint);
        Assert.Equal(1, code);
        Assert.StartsWith("rh: no cached result", stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task Serve_on_a_data_directory_in_use_is_a_one_line_failure_naming_the_holder()
    {
        var (code, stdout, stderr) = await RunAsync("serve", "--port", "0", "--data", _data);
        Assert.Equal(1, code);
        Assert.DoesNotContain("ready:", stdout);
        Assert.StartsWith("rh: data directory ", stderr);
        Assert.Contains($"in use by process {Environment.ProcessId}", stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task A_worker_pointed_at_a_head_without_the_worker_protocol_says_so_in_one_line()
    {
        var workerData = Path.Combine(Path.GetTempPath(), "rh-cli-worker-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, stdout, stderr) = await RunAsync("worker", "--heads", Endpoint, "--slots", "1", "--data", workerData);
            Assert.Equal(1, code);
            Assert.DoesNotContain("ready:", stdout);
            Assert.StartsWith($"rh: {Endpoint} does not serve the worker protocol", stderr);
            Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        }
        finally
        {
            Directory.Delete(workerData, recursive: true);
        }
    }

    [Fact]
    public async Task A_worker_platform_property_without_a_value_is_a_usage_failure()
    {
        var (code, _, stderr) = await RunAsync("worker", "--heads", Endpoint, "--platform", "OSFamily");
        Assert.Equal(2, code);
        Assert.StartsWith("rh: --platform 'OSFamily' is not name=value", stderr);
    }

    [Fact]
    public async Task Status_of_a_single_node_head_shows_it_as_the_leader_and_only_member()
    {
        var (code, stdout, stderr) = await RunAsync("status", "--endpoint", Endpoint);
        Assert.Equal(0, code);
        Assert.Empty(stderr);
        Assert.StartsWith($"leader 1 at {Endpoint}, term ", stdout);
        var rows = stdout.Split('\n').Where(line => line.StartsWith("1 ", StringComparison.Ordinal)).ToList();
        var row = Assert.Single(rows);
        Assert.Contains("leader", row, StringComparison.Ordinal);
        Assert.Contains(Endpoint, row, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_digest_is_a_usage_failure_naming_the_problem()
    {
        var (code, _, stderr) = await RunAsync("cache", "get", "NOTHEX/3", "--endpoint", Endpoint);
        Assert.Equal(2, code);
        Assert.StartsWith("rh: 'NOTHEX/3' is not an action digest: ", stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task An_unreachable_head_is_its_own_exit_code_with_the_address()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var (code, _, stderr) = await RunAsync("cache", "stats", "--endpoint", $"127.0.0.1:{port}");
        Assert.Equal(3, code);
        Assert.Contains($"127.0.0.1:{port}", stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }

    private static Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] arguments) => RhProcess.RunAsync(arguments);
}
