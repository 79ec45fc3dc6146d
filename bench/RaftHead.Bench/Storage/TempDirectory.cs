namespace RaftHead.Bench.Storage;

/// <summary>A fresh directory under the temp root, deleted (recursively) on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory(string root, string prefix)
    {
        Path = System.IO.Path.Combine(root, $"rafthead-bench-{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Bytes of every file below the directory (or below <paramref name="sub"/> within it).</summary>
    public long SizeBytes(string sub = "")
    {
        var dir = System.IO.Path.Combine(Path, sub);
        return Directory.Exists(dir) ? new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Already gone.
        }
    }
}
