using System.Runtime.InteropServices;

namespace RaftHead.Worker.Sandbox;

/// <summary>The few POSIX calls .NET does not wrap: hard links, ownership, and signalling a process group.</summary>
internal static partial class LibC
{
    public const int SIGKILL = 9;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EEXIST = 17;
    public const int EXDEV = 18;

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Link(string existing, string created);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LChown(string path, int owner, int group);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial int GetEffectiveUserId();

    public static int LastError => Marshal.GetLastPInvokeError();
}
