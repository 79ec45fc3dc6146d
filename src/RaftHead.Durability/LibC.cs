using System.Runtime.InteropServices;

namespace RaftHead.Durability;

/// <summary>
/// The few libc calls .NET does not expose: fsync of a directory (it cannot open one as a file) and flock on a
/// descriptor .NET did not open (its own FileShare emulation would take a lock of its own on the same file).
/// Flag values are the Linux ones, identical on x86-64 and arm64.
/// </summary>
internal static partial class LibC
{
    public const int ReadOnly = 0x0;
    public const int ReadWrite = 0x2;
    public const int Create = 0x40;
    public const int CloseOnExec = 0x80000;

    public const int LockExclusive = 2;
    public const int LockNonBlocking = 4;

    public const int EWOULDBLOCK = 11;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    public static string Describe(int errno) => $"errno {errno}: {Marshal.GetPInvokeErrorMessage(errno)}";
}
