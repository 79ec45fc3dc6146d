using Build.Bazel.Remote.Execution.V2;
using RaftHead.Durability;
using RaftHead.Testing;
using static RaftHead.Storage.Tests.TestBlobs;

namespace RaftHead.Storage.Tests;

public sealed class DataDirectoryLockTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_second_open_of_a_live_store_fails_naming_the_holder_and_changes_nothing()
    {
        List<(byte[] Data, Digest Digest)> blobs = [.. Enumerable.Range(0, 10).Select(i => Make(i, i % 2 == 0 ? 20_000 : 300))];
        FasterBlobStore live = await OpenAsync(Options(_dir.Path));
        try
        {
            foreach ((byte[] data, Digest digest) in blobs)
            {
                await live.PutAsync("", digest, data, CancellationToken.None);
            }

            // A streamed upload in progress: its temp file is exactly what a second open used to delete.
            await using IBlobWriter pending = live.BeginWrite("", Make(99, 50_000).Digest);
            await pending.WriteAsync(Make(99, 50_000).Data.AsMemory(0, 10_000), CancellationToken.None);
            Dictionary<string, string> before = Snapshot(_dir.Path);

            var error = await Assert.ThrowsAsync<DataDirectoryInUseException>(() => OpenAsync(Options(_dir.Path)));
            Assert.Equal(
                $"data directory {_dir.Path} is in use by process {Environment.ProcessId} (lock file {Path.Combine(_dir.Path, "LOCK")})",
                error.Message);
            Assert.Equal(before, Snapshot(_dir.Path));

            foreach ((byte[] data, Digest digest) in blobs)
            {
                Assert.Equal(data, await ReadAllAsync(live, "", digest));
            }
        }
        finally
        {
            await live.DisposeAsync();
        }

        await using FasterBlobStore reopened = await OpenAsync(Options(_dir.Path));
        foreach ((byte[] data, Digest digest) in blobs)
        {
            Assert.Equal(data, await ReadAllAsync(reopened, "", digest));
        }
    }

    [Fact]
    public async Task A_crashed_store_leaves_no_lock_behind()
    {
        FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        await store.SimulateCrashAsync();
        await using FasterBlobStore reopened = await OpenAsync(Options(_dir.Path));
    }

    /// <summary>
    /// Every file under the directory with its length and modification time (nanosecond resolution here), to show
    /// nothing was created, deleted, written or cut. Contents are not read: the live store holds the upload's temp
    /// file and the lock file exclusively.
    /// </summary>
    private static Dictionary<string, string> Snapshot(string directory) =>
        System.IO.Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).ToDictionary(
            path => Path.GetRelativePath(directory, path),
            path => $"{new FileInfo(path).Length}@{File.GetLastWriteTimeUtc(path).Ticks}");
}
