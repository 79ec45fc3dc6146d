using System.Runtime.InteropServices;

namespace RaftHead.Worker.Spawn;

/// <summary>
/// The libc calls behind the direct spawn path. Credentials are changed with raw system calls: the libc wrappers
/// (setresuid and friends) apply a change to every thread of the process, and only the spawning thread may change,
/// only for the length of one call (<see cref="ActionIdentity"/>).
/// </summary>
internal static unsafe partial class SpawnNative
{
    public const int POSIX_SPAWN_SETSIGDEF = 0x04;
    public const int POSIX_SPAWN_SETSIGMASK = 0x08;
    public const int POSIX_SPAWN_SETSID = 0x80;
    public const int O_RDONLY = 0;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;
    public const int CLONE_NEWNET = 0x40000000;
    public const short POLLIN = 1;
    public const int WNOHANG = 1;
    public const int X_OK = 1;
    public const int EINTR = 4;
    public const int ECHILD = 10;
    public const int EACCES = 13;
    public const int ENOTDIR = 20;
    public const int ENOSYS = 38;
    public const int AT_FDCWD = -100;

    /// <summary>Room enough for glibc's posix_spawnattr_t (336 bytes) and posix_spawn_file_actions_t (80 bytes).</summary>
    public const int OpaqueBytes = 512;

    /// <summary>glibc's sigset_t.</summary>
    public const int SigsetBytes = 128;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>System call numbers where they differ by architecture; null where this code does not know them.</summary>
    public static (long SetGroups, long SetResUid, long SetResGid)? CredentialCalls => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => (116, 117, 119),
        Architecture.Arm64 => (159, 147, 149),
        _ => null,
    };

    /// <summary>The same number on every architecture (the unified table since Linux 5.3).</summary>
    public const long SysPidfdOpen = 434;

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    public static partial int FileActionsInit(void* actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    public static partial int FileActionsDestroy(void* actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
    public static partial int FileActionsAddDup2(void* actions, int fd, int newFd);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addopen")]
    public static partial int FileActionsAddOpen(void* actions, int fd, byte* path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_init")]
    public static partial int AttrInit(void* attributes);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    public static partial int AttrDestroy(void* attributes);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    public static partial int AttrSetFlags(void* attributes, short flags);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    public static partial int AttrSetSigMask(void* attributes, void* mask);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    public static partial int AttrSetSigDefault(void* attributes, void* signals);

    [LibraryImport("libc", EntryPoint = "sigemptyset")]
    public static partial int SigEmptySet(void* set);

    [LibraryImport("libc", EntryPoint = "sigfillset")]
    public static partial int SigFillSet(void* set);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    public static partial int Pipe2(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    public static partial int WaitPid(int pid, int* status, int options);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true)]
    public static partial int Open(byte* path, int flags);

    [LibraryImport("libc", EntryPoint = "getresuid", SetLastError = true)]
    public static partial int GetResUid(uint* real, uint* effective, uint* saved);

    [LibraryImport("libc", EntryPoint = "getresgid", SetLastError = true)]
    public static partial int GetResGid(uint* real, uint* effective, uint* saved);

    [LibraryImport("libc", EntryPoint = "getgroups", SetLastError = true)]
    public static partial int GetGroups(int size, uint* list);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buffer, nuint count);

    /// <summary>Integer arguments only: passed as a fixed signature, which the x64 and arm64 Linux conventions allow.</summary>
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall(long number, long a, long b, long c);

    [LibraryImport("libc", EntryPoint = "strerror")]
    public static partial nint StrError(int errno);

    public static string Describe(int errno) => Marshal.PtrToStringUTF8(StrError(errno)) ?? $"errno {errno}";

    /// <summary>A libc function this glibc may lack (addchdir_np came with 2.29).</summary>
    public static nint Export(string name) =>
        NativeLibrary.TryLoad("libc.so.6", out var libc) && NativeLibrary.TryGetExport(libc, name, out var address) ? address : 0;
}
