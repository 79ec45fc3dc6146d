using System.Runtime.InteropServices;

namespace RaftHead.Durability;

/// <summary>
/// Makes directory entries survive power loss, not just a process kill: a file created, renamed or deleted in a
/// directory, or a directory created, is only durable once its parent directory is fsynced. Every failure
/// throws; a sync that silently did nothing would let us acknowledge what a crash then loses.
/// </summary>
public static class DurableDirectory
{
    /// <summary>fsync of <paramref name="directory"/> itself, so the names in it are durable.</summary>
    /// <exception cref="IOException">The directory cannot be opened or the fsync fails.</exception>
    public static void Sync(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        int fd = LibC.Open(directory, LibC.ReadOnly | LibC.CloseOnExec, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot open directory {directory} to fsync it ({LibC.Describe(errno)})");
        }

        try
        {
            if (LibC.Fsync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new IOException($"fsync of directory {directory} failed ({LibC.Describe(errno)})");
            }
        }
        finally
        {
            _ = LibC.Close(fd);
        }
    }

    /// <summary>
    /// Creates <paramref name="directory"/> and any missing parents, and fsyncs the parent of each directory it
    /// created, so the new directory is still there after a power loss. Does nothing if it already exists.
    /// </summary>
    /// <returns>Whether anything was created.</returns>
    public static bool Create(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        var missing = new List<string>();
        for (string? d = full; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d))
        {
            missing.Add(d);
        }

        if (missing.Count == 0)
        {
            return false;
        }

        Directory.CreateDirectory(full);
        // Top-down: a child's entry is only reachable once its parent's own entry is durable.
        for (int i = missing.Count - 1; i >= 0; i--)
        {
            Sync(Path.GetDirectoryName(missing[i])!);
        }

        return true;
    }
}
