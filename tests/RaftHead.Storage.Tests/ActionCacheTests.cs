using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Protocol;
using RaftHead.Testing;
using static RaftHead.Storage.Tests.TestBlobs;
using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Storage.Tests;

public sealed class ActionCacheTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task PutThenGetPerInstanceAndLatestWins()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        var cache = new FasterActionCache(store);
        Digest action = Make(1, 10).Digest;
        var first = new ActionResult { ExitCode = 1 };
        var second = new ActionResult { ExitCode = 2, StdoutRaw = ByteString.CopyFrom(new byte[10_000]) };

        await cache.PutAsync("a", action, first, CancellationToken.None);
        Assert.Equal(first, await cache.GetAsync("a", action, CancellationToken.None));
        Assert.Null(await cache.GetAsync("b", action, CancellationToken.None));

        await cache.PutAsync("a", action, second, CancellationToken.None);
        Assert.Equal(second, await cache.GetAsync("a", action, CancellationToken.None));
        Assert.Equal(1, store.GetStats().ActionResults);
        Assert.Equal(0, store.GetStats().Blobs);

        // The action digest as a CAS digest names nothing: the two namespaces are apart.
        Assert.Equal([action], await MissingAsync(store, "a", action));
    }

    [Fact]
    public async Task EntriesSurviveRestartAndCrash()
    {
        Digest action = Make(1, 10).Digest;
        Digest other = Make(2, 10).Digest;
        var result = new ActionResult { ExitCode = 3 };
        await using (FasterBlobStore store = await OpenAsync(Options(_dir.Path)))
        {
            await new FasterActionCache(store).PutAsync("", action, result, CancellationToken.None);
        }

        FasterBlobStore second = await OpenAsync(Options(_dir.Path));
        await new FasterActionCache(second).PutAsync("", other, new ActionResult { ExitCode = 4 }, CancellationToken.None);
        await new FasterActionCache(second).PutAsync("", action, new ActionResult { ExitCode = 5 }, CancellationToken.None);
        await second.SimulateCrashAsync();

        await using FasterBlobStore third = await OpenAsync(Options(_dir.Path));
        var cache = new FasterActionCache(third);
        Assert.Equal(5, (await cache.GetAsync("", action, CancellationToken.None))?.ExitCode);
        Assert.Equal(4, (await cache.GetAsync("", other, CancellationToken.None))?.ExitCode);
    }

    [Fact]
    public async Task CompleteResultIsAHit()
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        var (cache, result, action, _) = await SetUpAsync(store);

        Assert.Equal(result, await cache.GetAsync("", action, CancellationToken.None));
        Assert.Null(await cache.GetAsync("", Make(99, 1).Digest, CancellationToken.None));

        ActionCacheStats stats = cache.GetStats();
        Assert.Equal((1, 1, 0), (stats.Hits, stats.Misses, stats.Incomplete));
        Assert.Equal(1, stats.Instances[""].Hits);
    }

    [Theory]
    [InlineData("output-file")]
    [InlineData("stdout")]
    [InlineData("tree")]
    [InlineData("file-in-tree")]
    [InlineData("file-in-tree-child")]
    public async Task ResultWithAMissingBlobIsIncomplete(string what)
    {
        await using FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        var (cache, result, action, blobs) = await SetUpAsync(store, skip: what);

        Assert.Null(await cache.GetAsync("", action, CancellationToken.None));

        ActionCacheStats stats = cache.GetStats();
        Assert.Equal((0, 0, 1), (stats.Hits, stats.Misses, stats.Incomplete));
        Assert.NotNull(result);
        Assert.NotEmpty(blobs);
    }

    private static async Task<(CompletenessCheckingActionCache Cache, ActionResult Result, Digest Action, Dictionary<string, (byte[], Digest)> Blobs)> SetUpAsync(
        FasterBlobStore store, string? skip = null)
    {
        var blobs = new Dictionary<string, (byte[] Data, Digest Digest)>
        {
            ["output-file"] = Make(10, 100),
            ["stdout"] = Make(11, 100),
            ["file-in-tree"] = Make(12, 100),
            ["file-in-tree-child"] = Make(13, 100),
        };
        var child = new Directory();
        child.Files.Add(new FileNode { Name = "c", Digest = blobs["file-in-tree-child"].Digest });
        var root = new Directory();
        root.Files.Add(new FileNode { Name = "f", Digest = blobs["file-in-tree"].Digest });
        root.Directories.Add(new DirectoryNode { Name = "sub", Digest = Digests.ComputeOf(child) });
        var tree = new Tree { Root = root };
        tree.Children.Add(child);
        byte[] treeBytes = tree.ToByteArray();
        blobs["tree"] = (treeBytes, Digests.Compute(treeBytes));

        foreach ((string name, (byte[] data, Digest digest)) in blobs)
        {
            if (name != skip)
            {
                await store.PutAsync("", digest, data, CancellationToken.None);
            }
        }

        var result = new ActionResult { StdoutDigest = blobs["stdout"].Digest, StderrDigest = Digests.Empty };
        result.OutputFiles.Add(new OutputFile { Path = "out", Digest = blobs["output-file"].Digest });
        result.OutputDirectories.Add(new OutputDirectory { Path = "dir", TreeDigest = blobs["tree"].Digest });
        Digest action = Make(1, 10).Digest;
        var cache = new CompletenessCheckingActionCache(new FasterActionCache(store), store);
        await cache.PutAsync("", action, result, CancellationToken.None);
        return (cache, result, action, blobs.ToDictionary(kv => kv.Key, kv => ((byte[], Digest))kv.Value));
    }
}
