using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Testing;
using static RaftHead.Storage.Tests.TestBlobs;

namespace RaftHead.Storage.Tests;

public sealed class RecoveryTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string SegmentDirectory => Path.Combine(_dir.Path, "segments");

    [Fact]
    public async Task CleanRestartKeepsEverything()
    {
        List<(byte[] Data, Digest Digest)> blobs = [.. Enumerable.Range(0, 40).Select(i => Make(i, i % 4 == 0 ? 20_000 : 100 + i))];
        await using (FasterBlobStore store = await OpenAsync(Options(_dir.Path)))
        {
            foreach ((byte[] data, Digest digest) in blobs)
            {
                await store.PutAsync("x", digest, data, CancellationToken.None);
            }
        }

        await using FasterBlobStore reopened = await OpenAsync(Options(_dir.Path));
        foreach ((byte[] data, Digest digest) in blobs)
        {
            Assert.Equal(data, await ReadAllAsync(reopened, "x", digest));
        }

        BlobStoreStats stats = reopened.GetStats();
        Assert.Equal(40, stats.Blobs);
        Assert.Equal(blobs.Sum(b => (long)b.Data.Length), stats.Bytes);
        Assert.Equal(40, stats.Instances["x"].Blobs);
    }

    [Fact]
    public async Task CrashWithoutCheckpointRecoversAcknowledgedBlobsFromSegmentTails()
    {
        List<(byte[] Data, Digest Digest)> blobs = [.. Enumerable.Range(0, 30).Select(i => Make(i, i % 5 == 0 ? 10_000 : 500))];
        FasterBlobStore store = await OpenAsync(Options(_dir.Path, segmentBytes: 4096));
        foreach ((byte[] data, Digest digest) in blobs)
        {
            await store.PutAsync("", digest, data, CancellationToken.None);
        }

        await store.SimulateCrashAsync();

        await using FasterBlobStore reopened = await OpenAsync(Options(_dir.Path, segmentBytes: 4096));
        Assert.Empty(await MissingAsync(reopened, "", [.. blobs.Select(b => b.Digest)]));
        foreach ((byte[] data, Digest digest) in blobs)
        {
            Assert.Equal(data, await ReadAllAsync(reopened, "", digest));
        }

        Assert.Equal(30, reopened.GetStats().Blobs);
    }

    [Theory]
    [InlineData("partial-header")]
    [InlineData("partial-data")]
    [InlineData("garbage-data")]
    public async Task TornTailIsCutAndNothingAcknowledgedIsLost(string tear)
    {
        List<(byte[] Data, Digest Digest)> blobs = [.. Enumerable.Range(0, 20).Select(i => Make(i, 300))];
        FasterBlobStore store = await OpenAsync(Options(_dir.Path));
        foreach ((byte[] data, Digest digest) in blobs)
        {
            await store.PutAsync("", digest, data, CancellationToken.None);
        }

        await store.SimulateCrashAsync();

        // The last shared segment holds all twenty; append what a write cut short by the crash would leave.
        string segment = System.IO.Directory.EnumerateFiles(SegmentDirectory, "*.seg").Order().First(f => new FileInfo(f).Length > 0);
        long validLength = new FileInfo(segment).Length;
        byte[] record = File.ReadAllBytes(segment)[..(112 + 300)];
        byte[] tail = tear switch
        {
            "partial-header" => record[..50],
            "partial-data" => record[..(112 + 100)],
            _ => [.. record[..112], .. new byte[300]],
        };
        await using (var file = new FileStream(segment, FileMode.Append))
        {
            await file.WriteAsync(tail);
        }

        await using FasterBlobStore reopened = await OpenAsync(Options(_dir.Path));
        Assert.Equal(validLength, new FileInfo(segment).Length);
        foreach ((byte[] data, Digest digest) in blobs)
        {
            Assert.Equal(data, await ReadAllAsync(reopened, "", digest));
        }

        Assert.Equal(20, reopened.GetStats().Blobs);
        Assert.Equal(0, reopened.GetStats().Corrupt);
    }

    [Fact]
    public async Task BitRotIsReportedMissingCountedAndRemoved()
    {
        (byte[] small, Digest smallDigest) = Make(1, 1000);
        (byte[] large, Digest largeDigest) = Make(2, 50_000);
        (byte[] intact, Digest intactDigest) = Make(3, 1000);
        await using (FasterBlobStore store = await OpenAsync(Options(_dir.Path)))
        {
            await store.PutAsync("", smallDigest, small, CancellationToken.None);
            await store.PutAsync("", intactDigest, intact, CancellationToken.None);
            await store.PutAsync("", largeDigest, large, CancellationToken.None);
        }

        string shared = System.IO.Directory.EnumerateFiles(SegmentDirectory, "*.seg").Order().First(f => new FileInfo(f).Length > 0);
        FlipByte(shared, 112 + 500); // inside the first record's data
        string blob = System.IO.Directory.EnumerateFiles(SegmentDirectory, "*.blob").Single();
        FlipByte(blob, 112 + 40_000);

        await using FasterBlobStore reopened = await OpenAsync(Options(_dir.Path));
        Assert.Null(await ReadAllAsync(reopened, "", smallDigest));
        // A large blob is verified as it streams: the whole read fails at its end rather than completing.
        await Assert.ThrowsAsync<BlobCorruptException>(() => ReadAllAsync(reopened, "", largeDigest));
        Assert.Null(await ReadAllAsync(reopened, "", largeDigest));
        Assert.Equal(intact, await ReadAllAsync(reopened, "", intactDigest));

        BlobStoreStats stats = reopened.GetStats();
        Assert.Equal(2, stats.Corrupt);
        Assert.Equal(1, stats.Blobs);
        Assert.Equal([smallDigest, largeDigest], await MissingAsync(reopened, "", smallDigest, largeDigest, intactDigest));
        Assert.False(File.Exists(blob));

        // A client may upload it again, and then it is served.
        await reopened.PutAsync("", smallDigest, small, CancellationToken.None);
        Assert.Equal(small, await ReadAllAsync(reopened, "", smallDigest));
    }

    [Fact]
    public async Task UnreadableCheckpointFallsBackToFullScan()
    {
        (byte[] data, Digest digest) = Make(1, 1000);
        await using (FasterBlobStore store = await OpenAsync(Options(_dir.Path)))
        {
            await store.PutAsync("", digest, data, CancellationToken.None);
        }

        foreach (string file in System.IO.Directory.EnumerateFiles(Path.Combine(_dir.Path, "index", "checkpoints"), "*", SearchOption.AllDirectories))
        {
            File.WriteAllBytes(file, [1, 2, 3]);
        }

        await using FasterBlobStore reopened = await OpenAsync(Options(_dir.Path));
        Assert.Equal(data, await ReadAllAsync(reopened, "", digest));
    }

    [Fact]
    public async Task KilledChildProcessLosesNoAcknowledgedBlob()
    {
        string assembly = typeof(CrashChild).Assembly.Location;
        var start = new ProcessStartInfo("dotnet", [assembly, "ingest", _dir.Path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var acknowledged = new List<(int Seed, int Size)>();
        using (Process child = Process.Start(start)!)
        {
            _ = child.StandardError.ReadToEndAsync();
            var deadline = DateTime.UtcNow.AddSeconds(15);
            int killAfter = 150 + Random.Shared.Next(300);
            while (acknowledged.Count < killAfter && DateTime.UtcNow < deadline)
            {
                string? line = await child.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
                if (line is null)
                {
                    break;
                }

                string[] parts = line.Split(' ');
                if (parts is ["ACK", var seed, var size])
                {
                    acknowledged.Add((int.Parse(seed), int.Parse(size)));
                }
            }

            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
        }

        Assert.True(acknowledged.Count >= 50, $"child acknowledged only {acknowledged.Count} blobs before the deadline");
        await using FasterBlobStore reopened = await OpenAsync(Options(_dir.Path, segmentBytes: 64 << 10));
        foreach ((int seed, int size) in acknowledged)
        {
            (byte[] data, Digest digest) = Make(seed, size);
            Assert.Equal(data, await ReadAllAsync(reopened, "", digest));
        }

        Assert.Equal(0, reopened.GetStats().Corrupt);
        Assert.True(reopened.GetStats().Blobs >= acknowledged.Count);
    }

    private static void FlipByte(string path, long offset)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        int b = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(b ^ 0xFF));
    }
}
