using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Protocol;
using RaftHead.Protocol.Runner;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Worker.Tests;

/// <summary>
/// What an action may rely on, checked on both ways of starting it: spawned directly (the default) and through the
/// setsid and unshare programs (the fallback for older machines).
/// </summary>
public sealed class SpawnPathTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly RunnerFixture _fixture = new();
    private ActionRunner _helpers = null!;

    public async Task InitializeAsync()
    {
        await _fixture.InitializeAsync();
        _helpers = new ActionRunner(_fixture.Store, new RunnerOptions { WorkDirectory = Path.Combine(_fixture.Root, "work-helpers"), WorkerId = "test-worker", DirectSpawn = false });
    }

    public async Task DisposeAsync()
    {
        await _helpers.DisposeAsync();
        await _fixture.DisposeAsync();
    }

    [Fact]
    public void The_direct_path_is_taken_on_a_current_machine_and_said_so()
    {
        Assert.True(_fixture.Runner.Isolation.SpawnsDirectly, _fixture.Runner.Isolation.SpawnFallback);
        Assert.Contains("spawned directly", _fixture.Runner.Isolation.Describe());
        Assert.False(_helpers.Isolation.SpawnsDirectly);
        Assert.Contains("spawned through setsid and unshare (direct spawning is turned off)", _helpers.Isolation.Describe());
        Assert.Equal(_helpers.Isolation.OwnNetworkNamespace, _fixture.Runner.Isolation.OwnNetworkNamespace);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_action_runs_as_the_run_as_user_with_no_privilege_left(bool direct)
    {
        var runner = Runner(direct);
        var result = await RunAsync(direct, RunnerFixture.Shell("id -u; grep -E '^(Uid|Gid|Groups|CapPrm|CapEff):' /proc/self/status | tr -s '\\t ' ' '"));
        var lines = (await _fixture.ReadTextAsync(result.Result.StdoutDigest)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (runner.Isolation.User is not { } user)
        {
            Assert.NotEqual("0", lines[0]);
            return;
        }

        var uid = user.Uid.ToString(CultureInfo.InvariantCulture);
        var gid = user.Gid.ToString(CultureInfo.InvariantCulture);
        Assert.Equal(
            [uid, $"Uid: {uid} {uid} {uid} {uid}", $"Gid: {gid} {gid} {gid} {gid}", "Groups:", "CapPrm: 0000000000000000", "CapEff: 0000000000000000"],
            lines.Select(l => l.TrimEnd()).ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task With_isolation_the_action_sees_only_loopback_and_cannot_reach_a_host_listener(bool direct)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var command = RunnerFixture.Shell(
            $"tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then echo reached; else echo unreachable; fi");
        command.Arguments[0] = "/bin/bash";
        var result = await RunAsync(direct, command);
        var lines = (await _fixture.ReadTextAsync(result.Result.StdoutDigest)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (Runner(direct).Isolation.OwnNetworkNamespace)
        {
            Assert.Equal(["lo", "unreachable"], lines);
        }
        else
        {
            Assert.Equal("reached", lines[^1]);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_timeout_kills_a_child_the_action_left_in_the_background(bool direct)
    {
        var result = await RunAsync(direct, RunnerFixture.Shell("sleep 300 & echo $! > pid; sleep 300", "pid"), TimeSpan.FromSeconds(1)).WaitAsync(Bound);
        Assert.Equal((int)Grpc.Core.StatusCode.DeadlineExceeded, result.Status.Code);
        var pid = int.Parse(await _fixture.ReadTextAsync(Assert.Single(result.Result.OutputFiles).Digest), CultureInfo.InvariantCulture);
        await ProcessAssert.GoneAsync(pid);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_child_left_behind_by_an_action_that_exits_is_killed_too(bool direct)
    {
        var result = await RunAsync(direct, RunnerFixture.Shell("sleep 300 >/dev/null 2>&1 & echo $! > pid", "pid")).WaitAsync(Bound);
        Assert.Equal(0, result.Result.ExitCode);
        await ProcessAssert.GoneAsync(int.Parse(await _fixture.ReadTextAsync(Assert.Single(result.Result.OutputFiles).Digest), CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_action_sees_exactly_its_commands_environment_the_last_of_a_name_given_twice(bool direct)
    {
        var command = new Command { Arguments = { "/usr/bin/env" } };
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "A", Value = "1" });
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "EMPTY", Value = "" });
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "A", Value = "2" });
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "UNICODE", Value = "grüße = ok" });
        var result = await RunAsync(direct, command);
        var lines = (await _fixture.ReadTextAsync(result.Result.StdoutDigest)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["A=2", "EMPTY=", "UNICODE=grüße = ok"], lines.Order(StringComparer.Ordinal).ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_bare_program_name_is_looked_up_in_the_commands_path_relative_entries_from_the_working_directory(bool direct)
    {
        var command = new Command { Arguments = { "hello", "there" }, WorkingDirectory = "work" };
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "PATH", Value = "/nonexistent:../tools:/bin" });
        var inputs = new InputTree().File("tools/hello", "#!/bin/sh\necho \"hello $1 from $(basename \"$PWD\")\"\n", executable: true).File("work/keep", "");
        var result = await RunAsync(direct, command, inputs: inputs);
        Assert.Equal(0, result.Result.ExitCode);
        Assert.Equal("hello there from work\n", await _fixture.ReadTextAsync(result.Result.StdoutDigest));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_missing_program_is_exit_code_127_with_the_reason_on_stderr(bool direct)
    {
        var command = new Command { Arguments = { "no-such-program-here" } };
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "PATH", Value = "/usr/bin:/bin" });
        var result = await RunAsync(direct, command);
        Assert.Equal(0, result.Status.Code);
        Assert.Equal(127, result.Result.ExitCode);
        Assert.Contains("no-such-program-here: No such file or directory", await _fixture.ReadTextAsync(result.Result.StderrDigest));
    }

    [Theory]
    [InlineData(true, "exit 7", 7)]
    [InlineData(false, "exit 7", 7)]
    [InlineData(true, "kill -TERM $$", 128 + 15)]
    [InlineData(false, "kill -TERM $$", 128 + 15)]
    [InlineData(true, "kill -KILL $$", 128 + 9)]
    public async Task The_exit_code_or_the_signal_that_ended_the_action_is_reported(bool direct, string script, int exitCode)
    {
        var result = await RunAsync(direct, RunnerFixture.Shell(script));
        Assert.Equal(0, result.Status.Code);
        Assert.Equal(exitCode, result.Result.ExitCode);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Stdin_is_at_its_end_and_stdout_and_stderr_are_kept_apart(bool direct)
    {
        var result = await RunAsync(direct, RunnerFixture.Shell("cat; echo out; echo err >&2")).WaitAsync(Bound);
        Assert.Equal(0, result.Result.ExitCode);
        Assert.Equal("out\n", await _fixture.ReadTextAsync(result.Result.StdoutDigest));
        Assert.Equal("err\n", await _fixture.ReadTextAsync(result.Result.StderrDigest));
    }

    /// <summary>Not so through the helper programs: they pass on the SIGPIPE that .NET ignores.</summary>
    [Fact]
    public async Task A_directly_spawned_action_starts_with_no_signal_blocked_or_ignored()
    {
        var result = await RunAsync(true, RunnerFixture.Shell("grep -E '^Sig(Blk|Ign):' /proc/self/status | tr -s '\\t ' ' '"));
        Assert.Equal("SigBlk: 0000000000000000\nSigIgn: 0000000000000000\n", await _fixture.ReadTextAsync(result.Result.StdoutDigest));
    }

    [Fact]
    public async Task Concurrent_direct_actions_each_get_their_own_output_and_exit_code()
    {
        var runs = new Task<ActionRunResult>[24];
        for (var i = 0; i < runs.Length; i++)
        {
            runs[i] = RunAsync(true, RunnerFixture.Shell($"echo {i}; exit {i}"));
        }

        var results = await Task.WhenAll(runs).WaitAsync(Bound);
        for (var i = 0; i < results.Length; i++)
        {
            Assert.Equal(i, results[i].Result.ExitCode);
            Assert.Equal($"{i}\n", await _fixture.ReadTextAsync(results[i].Result.StdoutDigest));
        }
    }

    private ActionRunner Runner(bool direct) => direct ? _fixture.Runner : _helpers;

    private async Task<ActionRunResult> RunAsync(bool direct, Command command, TimeSpan? timeout = null, InputTree? inputs = null)
    {
        var root = await (inputs ?? new InputTree().File("keep", "")).UploadAsync(_fixture.Store);
        var commandBytes = command.ToByteArray();
        var commandDigest = Digests.Compute(commandBytes);
        await _fixture.Store.PutAsync("", commandDigest, commandBytes, CancellationToken.None);
        var action = new ReapiAction { CommandDigest = commandDigest, InputRootDigest = root };
        if (timeout is { } t)
        {
            action.Timeout = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(t);
        }

        return await Runner(direct).RunAsync(new ActionRunRequest("", Digests.ComputeOf(action), action, command), CancellationToken.None);
    }
}
