using RaftHead.Durability;

namespace RaftHead.Worker.Tests;

public sealed class WorkDirectoryLockTests : IAsyncLifetime
{
    private readonly RunnerFixture _fixture = new();

    public Task InitializeAsync() => _fixture.InitializeAsync();

    public Task DisposeAsync() => _fixture.DisposeAsync();

    private string WorkDirectory => Path.Combine(_fixture.Root, "work");

    [Fact]
    public async Task A_second_runner_on_a_live_work_directory_fails_naming_the_holder_and_changes_nothing()
    {
        // The warm sandboxes: a second runner used to delete them under the first one.
        var sandbox = Path.Combine(WorkDirectory, "sandboxes", "ready");
        var before = Tree(WorkDirectory);
        Assert.Contains(before.Keys, path => path.StartsWith(Path.Combine("sandboxes", "ready") + "/", StringComparison.Ordinal));

        var error = Assert.Throws<DataDirectoryInUseException>(
            () => new ActionRunner(_fixture.Store, new RunnerOptions { WorkDirectory = WorkDirectory, WorkerId = "second" }));
        Assert.Equal(
            $"data directory {WorkDirectory} is in use by process {Environment.ProcessId} (lock file {Path.Combine(WorkDirectory, "LOCK")})",
            error.Message);
        Assert.Equal(before, Tree(WorkDirectory));
        Assert.True(System.IO.Directory.Exists(sandbox));

        // The first runner still works.
        var result = await _fixture.RunAsync(new InputTree().File("in", "x"), RunnerFixture.Shell("cat in > out", "out"));
        Assert.Equal(0, result.Status.Code);
    }

    [Fact]
    public async Task After_dispose_the_work_directory_can_be_used_again()
    {
        await _fixture.Runner.DisposeAsync();
        await using var again = new ActionRunner(_fixture.Store, new RunnerOptions { WorkDirectory = WorkDirectory, WorkerId = "again" });
    }

    [Fact]
    public async Task Actions_an_earlier_worker_process_left_running_are_killed_when_the_next_runner_starts()
    {
        await _fixture.Runner.DisposeAsync();
        var sandbox = System.IO.Directory.CreateDirectory(Path.Combine(WorkDirectory, "sandboxes", "left", "exec")).FullName;
        var childFile = Path.Combine(_fixture.Root, "child.pid");

        // An orphaned action: a shell in its sandbox and, in its process group, a child that left the sandbox.
        using var action = Start(sandbox, "sh", "-c", $"(cd / && exec sleep 120) & echo $! > {childFile}; wait");
        using var bystander = Start(_fixture.Root, "sleep", "120");
        var child = 0;
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (!File.Exists(childFile) || (await File.ReadAllTextAsync(childFile)).Trim().Length == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "the action's child never started");
                await Task.Delay(20);
            }

            child = int.Parse((await File.ReadAllTextAsync(childFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);

            await using var next = new ActionRunner(_fixture.Store, new RunnerOptions { WorkDirectory = WorkDirectory, WorkerId = "next" });

            await ProcessAssert.GoneAsync(action.Id);
            await ProcessAssert.GoneAsync(child);
            Assert.False(bystander.HasExited, "a process outside the sandboxes was killed");
        }
        finally
        {
            bystander.Kill();
            if (!action.HasExited)
            {
                action.Kill(entireProcessTree: true);
            }

            if (child > 0 && System.IO.Directory.Exists($"/proc/{child}"))
            {
                _ = RaftHead.Worker.Sandbox.LibC.Kill(child, RaftHead.Worker.Sandbox.LibC.SIGKILL);
            }
        }
    }

    /// <summary>A process in a session (and process group) of its own, as an action runs.</summary>
    private static System.Diagnostics.Process Start(string workingDirectory, params string[] command)
    {
        var start = new System.Diagnostics.ProcessStartInfo("/usr/bin/setsid") { WorkingDirectory = workingDirectory, UseShellExecute = false };
        foreach (var argument in command)
        {
            start.ArgumentList.Add(argument);
        }

        return System.Diagnostics.Process.Start(start)!;
    }

    /// <summary>Every entry under the directory; files with length and modification time.</summary>
    private static Dictionary<string, string> Tree(string directory) =>
        System.IO.Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories).ToDictionary(
            path => Path.GetRelativePath(directory, path),
            path => File.Exists(path) ? $"{new FileInfo(path).Length}@{File.GetLastWriteTimeUtc(path).Ticks}" : "dir");
}
