namespace RaftHead.Testing;

/// <summary>A fresh directory under the system temp folder, deleted (read-only parts included) on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "rafthead-test-")
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        if (!Directory.Exists(Path))
        {
            return;
        }

        try
        {
            // Bazel and sandboxed actions leave read-only directories behind; make them writable so their
            // entries can go. Symbolic links are not followed.
            MakeWritable(new DirectoryInfo(Path));
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a file still held by a killed child may linger briefly; a leaked temp directory
            // must not fail a test.
        }
    }

    private static void MakeWritable(DirectoryInfo directory)
    {
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if ((directory.UnixFileMode & owner) != owner)
        {
            directory.UnixFileMode |= owner;
        }

        foreach (var child in directory.EnumerateDirectories())
        {
            if (child.LinkTarget is null)
            {
                MakeWritable(child);
            }
        }
    }
}
