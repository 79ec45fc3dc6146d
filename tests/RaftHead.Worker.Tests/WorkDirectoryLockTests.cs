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

    /// <summary>Every entry under the directory; files with length and modification time.</summary>
    private static Dictionary<string, string> Tree(string directory) =>
        System.IO.Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories).ToDictionary(
            path => Path.GetRelativePath(directory, path),
            path => File.Exists(path) ? $"{new FileInfo(path).Length}@{File.GetLastWriteTimeUtc(path).Ticks}" : "dir");
}
