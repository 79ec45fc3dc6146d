using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace RaftHead.Durability;

/// <summary>
/// Exclusive ownership of a data directory: an flock on <c>LOCK</c> in it, with the holder's pid written inside
/// for the error message. Two processes recovering, checkpointing or cleaning the same directory at once destroy
/// each other's state, so whatever owns a directory takes this before touching anything in it.
/// </summary>
/// <remarks>
/// flock belongs to the open file description, so a second acquire fails even inside the same process, and the
/// kernel drops it when the process dies (<c>kill -9</c> included): no stale lock survives a crash. The file is
/// never deleted: removing it would let a second process lock a fresh inode while the first still holds the old one.
/// The descriptor is close-on-exec so that actions a worker starts cannot inherit (and outlive us holding) it.
/// </remarks>
public sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = "LOCK";

    // "2147483647\n" and room to spare: a pid never needs more.
    private const int PidBytesMax = 32;

    /// <summary>How long an acquire waits out a lock only a child of this process holds, between its fork and its exec.</summary>
    private static readonly TimeSpan ForkCopyWaitMax = TimeSpan.FromSeconds(2);

    /// <summary>Directories this process holds through a live <see cref="DataDirectoryLock"/>.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> HeldHere = new(StringComparer.Ordinal);

    private readonly SafeFileHandle _handle;

    private DataDirectoryLock(string directory, string lockFilePath, SafeFileHandle handle)
    {
        Directory = directory;
        LockFilePath = lockFilePath;
        _handle = handle;
    }

    public string Directory { get; }

    public string LockFilePath { get; }

    /// <summary>Locks the existing directory <paramref name="directory"/> or throws without changing anything in it.</summary>
    /// <exception cref="DataDirectoryInUseException">Someone else holds the lock.</exception>
    /// <exception cref="IOException">The lock file cannot be opened or locked for another reason.</exception>
    public static DataDirectoryLock Acquire(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        string lockFilePath = Path.Combine(full, FileName);
        int fd = LibC.Open(lockFilePath, LibC.ReadWrite | LibC.Create | LibC.CloseOnExec, 0x1A4); // 0644
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot open lock file {lockFilePath} of data directory {full} ({LibC.Describe(errno)})");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var started = Environment.TickCount64;
            while (LibC.Flock(fd, LibC.LockExclusive | LibC.LockNonBlocking) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != LibC.EWOULDBLOCK)
                {
                    throw new IOException($"cannot lock {lockFilePath} of data directory {full} ({LibC.Describe(errno)})");
                }

                // Our own pid in the file but no lock of ours on the directory: the holder is a copy of a released
                // descriptor in a child this process is forking right now (another thread starting a program), which
                // drops it at its exec. Any other holder is real.
                var holder = ReadHolder(handle);
                if (holder != Environment.ProcessId || HeldHere.ContainsKey(full) || Environment.TickCount64 - started > (long)ForkCopyWaitMax.TotalMilliseconds)
                {
                    throw new DataDirectoryInUseException(full, lockFilePath, holder);
                }

                Thread.Sleep(1);
            }

            WritePid(fd, handle, lockFilePath);
            HeldHere[full] = true;
            return new DataDirectoryLock(full, lockFilePath, handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Releases the lock (closing the descriptor is what releases an flock).</summary>
    public void Dispose()
    {
        // Forgotten first: an acquire in this process between the two then waits for the close instead of failing.
        if (!_handle.IsClosed)
        {
            HeldHere.TryRemove(Directory, out _);
        }

        _handle.Dispose();
    }

    private static void WritePid(int fd, SafeFileHandle handle, string lockFilePath)
    {
        // No fsync: the pid only explains a live lock; after a crash there is no lock to explain.
        if (LibC.Ftruncate(fd, 0) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot truncate lock file {lockFilePath} ({LibC.Describe(errno)})");
        }

        Span<byte> text = stackalloc byte[PidBytesMax];
        bool formatted = Environment.ProcessId.TryFormat(text, out int written, default, CultureInfo.InvariantCulture);
        System.Diagnostics.Debug.Assert(formatted && written < PidBytesMax);
        text[written++] = (byte)'\n';
        RandomAccess.Write(handle, text[..written], fileOffset: 0);
    }

    private static int? ReadHolder(SafeFileHandle handle)
    {
        Span<byte> text = stackalloc byte[PidBytesMax];
        int read = RandomAccess.Read(handle, text, fileOffset: 0);
        return int.TryParse(Encoding.ASCII.GetString(text[..read]).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
            ? pid
            : null;
    }
}
