using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Worker.Sandbox;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Worker.Tests;

public sealed class ActionRunnerTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly RunnerFixture _fixture = new();

    public Task InitializeAsync() => _fixture.InitializeAsync();

    public Task DisposeAsync() => _fixture.DisposeAsync();

    [Fact]
    public async Task A_nested_input_tree_with_executables_and_symlinks_is_there_for_the_command()
    {
        var inputs = new InputTree()
            .File("src/lib/data.txt", "nested data")
            .File("tools/hello.sh", "#!/bin/sh\necho hello from a tool\n", executable: true)
            .Symlink("src/link.txt", "lib/data.txt");
        var result = await _fixture.RunAsync(inputs, RunnerFixture.Shell("cat src/lib/data.txt; echo; ./tools/hello.sh; cat src/link.txt; test -x tools/hello.sh && test ! -x src/lib/data.txt && echo modes-ok"));

        Assert.Equal(0, result.Status.Code);
        Assert.Equal(0, result.Result.ExitCode);
        Assert.Equal("nested data\nhello from a tool\nnested datamodes-ok\n", await _fixture.ReadTextAsync(result.Result.StdoutDigest));
    }

    [Fact]
    public async Task Inputs_are_hard_links_into_the_file_cache()
    {
        var inputs = new InputTree().File("a/one.txt", "1").File("a/two.txt", "2").File("three.txt", "3");
        var root = await inputs.UploadAsync(_fixture.Store);
        var cache = new FileCache(Path.Combine(_fixture.Root, "cache-probe"));
        var target = Path.Combine(_fixture.Root, "probe");
        var materialized = await new InputMaterializer(_fixture.Store, cache).MaterializeAsync("", root, target, owner: null, CancellationToken.None);
        Assert.True(materialized.Succeeded);
        Assert.Equal(3, materialized.Files);
        Assert.Equal(3, materialized.Linked);
        Assert.Equal(0, materialized.Copied);
        Assert.Equal("1", await File.ReadAllTextAsync(Path.Combine(target, "a", "one.txt")));
    }

    [Fact]
    public async Task Every_kind_of_output_round_trips_through_the_cas()
    {
        var script = "mkdir -p out/dir/sub && printf 'file' > out/file.txt && printf 'x' > out/tool && chmod +x out/tool && " +
                     "printf 'inner' > out/dir/sub/inner.txt && ln -s sub/inner.txt out/dir/alias && ln -s file.txt out/link && echo to-stderr >&2";
        var result = await _fixture.RunAsync(new InputTree().File("keep", ""), RunnerFixture.Shell(script, "out/file.txt", "out/tool", "out/dir", "out/link", "out/never-made"));

        Assert.Equal(0, result.Status.Code);
        var files = result.Result.OutputFiles.ToDictionary(f => f.Path);
        Assert.Equal("file", await _fixture.ReadTextAsync(files["out/file.txt"].Digest));
        Assert.False(files["out/file.txt"].IsExecutable);
        Assert.True(files["out/tool"].IsExecutable);
        Assert.Equal("to-stderr\n", await _fixture.ReadTextAsync(result.Result.StderrDigest));

        var link = Assert.Single(result.Result.OutputSymlinks);
        Assert.Equal(("out/link", "file.txt"), (link.Path, link.Target));

        var directory = Assert.Single(result.Result.OutputDirectories);
        Assert.Equal("out/dir", directory.Path);
        var tree = await _fixture.ReadMessageAsync(directory.TreeDigest, Tree.Parser);
        Assert.Equal("alias", Assert.Single(tree.Root.Symlinks).Name);
        Assert.Equal("sub", Assert.Single(tree.Root.Directories).Name);
        var sub = Assert.Single(tree.Children);
        Assert.Equal(RaftHead.Protocol.Digests.ComputeOf(sub), tree.Root.Directories[0].Digest);
        Assert.Equal("inner", await _fixture.ReadTextAsync(Assert.Single(sub.Files).Digest));

        var metadata = result.Result.ExecutionMetadata;
        Assert.Equal("test-worker", metadata.Worker);
        Assert.True(metadata.ExecutionStartTimestamp.ToDateTime() <= metadata.ExecutionCompletedTimestamp.ToDateTime());
        Assert.True(metadata.InputFetchCompletedTimestamp.ToDateTime() <= metadata.ExecutionStartTimestamp.ToDateTime());
        Assert.True(metadata.OutputUploadCompletedTimestamp.ToDateTime() <= metadata.WorkerCompletedTimestamp.ToDateTime());
    }

    [Fact]
    public async Task Large_stdout_spills_to_disk_and_still_arrives_whole()
    {
        var result = await _fixture.RunAsync(new InputTree().File("keep", ""), RunnerFixture.Shell("head -c 3000000 /dev/zero | tr '\\0' 'a'; echo small >&2"));
        Assert.True(result.Result.ExitCode == 0, await _fixture.ReadTextAsync(result.Result.StderrDigest));
        Assert.Equal(3_000_000, result.Result.StdoutDigest.SizeBytes);
        Assert.Equal(RaftHead.Protocol.Digests.Compute(System.Text.Encoding.ASCII.GetBytes(new string('a', 3_000_000))), result.Result.StdoutDigest);
        Assert.Equal("small\n", await _fixture.ReadTextAsync(result.Result.StderrDigest));
    }

    [Fact]
    public async Task Older_clients_output_files_and_directories_are_collected_and_their_parents_made()
    {
        var command = RunnerFixture.Shell("printf a > deep/er/a.txt && mkdir -p tree && printf b > tree/b.txt");
        command.OutputFiles.Add("deep/er/a.txt");
        command.OutputDirectories.Add("tree");
        var result = await _fixture.RunAsync(new InputTree().File("keep", ""), command);
        Assert.Equal(0, result.Result.ExitCode);
        Assert.Equal("deep/er/a.txt", Assert.Single(result.Result.OutputFiles).Path);
        Assert.Equal("tree", Assert.Single(result.Result.OutputDirectories).Path);
    }

    [Fact]
    public async Task The_command_sees_only_its_own_environment_and_working_directory()
    {
        var command = new Command { Arguments = { "/usr/bin/env" }, WorkingDirectory = "sub/dir" };
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "ONLY", Value = "this" });
        var result = await _fixture.RunAsync(new InputTree().File("sub/dir/x", ""), command);
        Assert.Equal("ONLY=this\n", await _fixture.ReadTextAsync(result.Result.StdoutDigest));

        var pwd = await _fixture.RunAsync(new InputTree().File("sub/dir/x", ""), new Command { Arguments = { "/bin/pwd" }, WorkingDirectory = "sub/dir" });
        Assert.EndsWith("/exec/sub/dir\n", await _fixture.ReadTextAsync(pwd.Result.StdoutDigest));
    }

    [Fact]
    public async Task Actions_run_as_the_unprivileged_user_without_network_when_the_machine_allows()
    {
        var isolation = _fixture.Runner.Isolation;
        var result = await _fixture.RunAsync(new InputTree().File("keep", ""), RunnerFixture.Shell("id -u; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"));
        var lines = (await _fixture.ReadTextAsync(result.Result.StdoutDigest)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (isolation.User is { } user)
        {
            Assert.Equal(user.Uid.ToString(CultureInfo.InvariantCulture), lines[0]);
        }
        else
        {
            Assert.NotEqual("0", lines[0]);
        }

        if (isolation.OwnNetworkNamespace)
        {
            Assert.Equal(new[] { "lo" }, lines[1..]);
        }
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("../../../../etc/passwd")]
    public async Task Input_symlinks_that_leave_the_sandbox_are_refused(string target)
    {
        var result = await _fixture.RunAsync(new InputTree().Symlink("dir/escape", target), RunnerFixture.Shell("cat dir/escape"));
        Assert.Equal((int)Grpc.Core.StatusCode.InvalidArgument, result.Status.Code);
        Assert.Contains("dir/escape", result.Status.Message);
    }

    [Fact]
    public async Task An_input_directory_named_dot_dot_is_refused()
    {
        var file = RaftHead.Protocol.Digests.Compute("x"u8);
        await _fixture.Store.PutAsync("", file, "x"u8.ToArray(), CancellationToken.None);
        var evil = new ReapiDirectory { Files = { new FileNode { Name = "..", Digest = file } } };
        var bytes = Google.Protobuf.MessageExtensions.ToByteArray(evil);
        var root = RaftHead.Protocol.Digests.Compute(bytes);
        await _fixture.Store.PutAsync("", root, bytes, CancellationToken.None);
        var result = await _fixture.RunAsync(root, RunnerFixture.Shell("true"));
        Assert.Equal((int)Grpc.Core.StatusCode.InvalidArgument, result.Status.Code);
    }

    [Theory]
    [InlineData("ln -s /etc/passwd out", "out")]
    [InlineData("rmdir d && ln -s /etc d", "d/passwd")]
    [InlineData("true", "../../outside")]
    public async Task Outputs_that_resolve_outside_the_sandbox_are_refused(string script, string output)
    {
        var result = await _fixture.RunAsync(new InputTree().File("keep", ""), RunnerFixture.Shell(script, output));
        Assert.Equal((int)Grpc.Core.StatusCode.InvalidArgument, result.Status.Code);
        Assert.DoesNotContain(result.Result.OutputFiles, f => f.Path == output);
    }

    [Fact]
    public async Task Missing_inputs_are_listed_each_as_missing()
    {
        var inputs = new InputTree().File("present.txt", "here").File("gone/a.txt", "absent a").File("b.txt", "absent b");
        var root = inputs.Build("", out var blobs);
        foreach (var (digest, data) in blobs)
        {
            var text = System.Text.Encoding.UTF8.GetString(data);
            if (!text.StartsWith("absent", StringComparison.Ordinal))
            {
                await _fixture.Store.PutAsync("", digest, data, CancellationToken.None);
            }
        }

        var result = await _fixture.RunAsync(root, RunnerFixture.Shell("true"));
        Assert.Equal((int)Grpc.Core.StatusCode.FailedPrecondition, result.Status.Code);
        var failure = Assert.Single(result.Status.Details).Unpack<Google.Rpc.PreconditionFailure>();
        Assert.Equal(2, failure.Violations.Count);
        Assert.All(failure.Violations, v => Assert.Equal("MISSING", v.Type));
        Assert.Contains(failure.Violations, v => v.Subject == $"blobs/{RaftHead.Protocol.Digests.Compute("absent a"u8).Hash}/8");
    }

    [Fact]
    public async Task A_timeout_kills_the_whole_process_group_and_reports_deadline_exceeded()
    {
        var pids = Path.Combine(_fixture.Root, "timeout-pids");
        var result = await _fixture.RunAsync(
            new InputTree().File("keep", ""),
            RunnerFixture.Shell($"sleep 300 & echo $! > pids; sleep 300 & echo $! >> pids; echo $$ >> pids; wait", "pids"),
            timeout: TimeSpan.FromSeconds(1)).WaitAsync(Bound);

        Assert.Equal((int)Grpc.Core.StatusCode.DeadlineExceeded, result.Status.Code);
        var pidFile = Assert.Single(result.Result.OutputFiles);
        var spawned = (await _fixture.ReadTextAsync(pidFile.Digest)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, spawned.Length);
        foreach (var pid in spawned)
        {
            await ProcessAssert.GoneAsync(int.Parse(pid, CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public async Task Cancellation_kills_the_whole_process_group()
    {
        var marker = Path.Combine(_fixture.Root, "started");
        var runner = Path.Combine(_fixture.Root, "cancel-pids");
        using var cts = new CancellationTokenSource();
        // The action announces its process ids through a file outside the sandbox that the test watches.
        System.IO.Directory.CreateDirectory(runner);
        File.SetUnixFileMode(runner, (UnixFileMode)0x1FF);
        var run = _fixture.RunAsync(
            new InputTree().File("keep", ""),
            RunnerFixture.Shell($"sleep 300 & echo $! > {runner}/p.tmp; echo $$ >> {runner}/p.tmp; mv {runner}/p.tmp {runner}/p; wait"),
            cancellationToken: cts.Token);
        var pidPath = Path.Combine(runner, "p");
        var deadline = DateTime.UtcNow + Bound;
        while (!File.Exists(pidPath))
        {
            Assert.True(DateTime.UtcNow < deadline, "the action never started");
            await Task.Delay(20);
        }

        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run).WaitAsync(Bound);
        foreach (var pid in (await File.ReadAllTextAsync(pidPath)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            await ProcessAssert.GoneAsync(int.Parse(pid, CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void A_work_directory_the_run_as_user_cannot_reach_is_refused_at_start()
    {
        if (_fixture.Runner.Isolation.User is null)
        {
            return; // not root: actions run as ourselves and reach whatever we reach
        }

        var closed = Path.Combine(_fixture.Root, "closed");
        System.IO.Directory.CreateDirectory(closed);
        File.SetUnixFileMode(closed, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var error = Assert.Throws<InvalidOperationException>(() => new ActionRunner(_fixture.Store, new RunnerOptions { WorkDirectory = Path.Combine(closed, "work") }));
        Assert.Contains(closed, error.Message);
    }
}
