using System.Diagnostics;

namespace RaftHead.Compare;

/// <summary>The floor under every durable commit here: p50/p99 of append 1 KiB + fsync on the file system the clusters write to.</summary>
internal static class DiskProbe
{
    public static (double P50Ms, double P99Ms) AppendFsync(string directory, int count = 200)
    {
        var path = Path.Combine(directory, "fsync-probe.bin");
        var block = new byte[1024];
        var samples = new List<double>(count);
        try
        {
            using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.None);
            for (var i = 0; i < count; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                stream.Write(block);
                stream.Flush(flushToDisk: true);
                samples.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        }
        finally
        {
            File.Delete(path);
        }
        samples.Sort();
        return (Percentiles.Of(samples, 0.5), Percentiles.Of(samples, 0.99));
    }
}
