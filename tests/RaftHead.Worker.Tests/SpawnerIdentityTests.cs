namespace RaftHead.Worker.Tests;

/// <summary>
/// Linux keeps the network namespace and the credentials per thread, and a new thread takes them from the thread that
/// starts it. The runtime starts threads (the thread pool's among them) from whichever thread first needs one, so a
/// thread that kept the actions' identity between spawns handed it on to threads that then served the worker's own
/// sockets and files: a server started on one listened in the actions' empty network namespace, where no client could
/// reach it. Alone in its collection, so that no other runner is in the middle of a spawn while the threads are read.
/// </summary>
[Collection(nameof(SpawnerIdentityTests))]
public sealed class SpawnerIdentityTests : IAsyncLifetime
{
    private readonly RunnerFixture _fixture = new();

    public Task InitializeAsync() => _fixture.InitializeAsync();

    public Task DisposeAsync() => _fixture.DisposeAsync();

    [Fact]
    public async Task Once_its_actions_have_started_no_thread_of_the_worker_keeps_their_user_or_network()
    {
        Assert.True(_fixture.Runner.Isolation.SpawnsDirectly, _fixture.Runner.Isolation.SpawnFallback);
        var runs = new Task[24];
        for (var i = 0; i < runs.Length; i++)
        {
            runs[i] = _fixture.RunAsync(new InputTree().File("keep", ""), RunnerFixture.Shell($"echo {i}"));
        }

        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(60));

        var process = Identity("/proc/self");
        var strangers = new List<string>();
        foreach (var task in System.IO.Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var identity = Identity(task);
                if (identity != process)
                {
                    strangers.Add($"'{File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n')}' ({Path.GetFileName(task)}): {identity}");
                }
            }
            catch (IOException)
            {
                // The thread ended while being read.
            }
        }

        Assert.True(strangers.Count == 0, $"the process is {process}; these threads are not:\n{string.Join('\n', strangers)}");
    }

    private static string Identity(string task)
    {
        var ids = "?";
        foreach (var line in File.ReadLines(Path.Combine(task, "status")))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal) || line.StartsWith("Gid:", StringComparison.Ordinal) || line.StartsWith("Groups:", StringComparison.Ordinal))
            {
                ids = ids == "?" ? line : $"{ids}, {line}";
            }
        }

        return $"{ids.Replace('\t', ' ')}, {new FileInfo(Path.Combine(task, "ns", "net")).LinkTarget}";
    }
}

[CollectionDefinition(nameof(SpawnerIdentityTests), DisableParallelization = true)]
public sealed class SpawnerIdentityCollection;
