using System.Runtime.InteropServices;

namespace RaftHead.IntegrationTests;

/// <summary>Sends POSIX signals to one process by its id (.NET only offers SIGKILL through <c>Process.Kill</c>).</summary>
internal static partial class PosixSignals
{
    private const int SigTerm = 15;

    /// <summary>Asks the process to stop; false if it no longer exists.</summary>
    public static bool Terminate(int pid) => pid > 0 && Kill(pid, SigTerm) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
