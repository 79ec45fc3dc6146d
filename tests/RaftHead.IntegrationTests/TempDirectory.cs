namespace RaftHead.IntegrationTests;

/// <summary>A fresh directory under the system temp folder, deleted (read-only parts included) on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix)
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

        // Bazel leaves read-only directories behind (external repositories, the action cache); make them
        // writable so their entries can go. Symbolic links are not followed.
        MakeWritable(new DirectoryInfo(Path));
        Directory.Delete(Path, recursive: true);
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
