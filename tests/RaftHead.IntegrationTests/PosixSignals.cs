using System.Runtime.InteropServices;

namespace RaftHead.IntegrationTests;

/// <summary>Sends POSIX signals to one process by its id (.NET only offers SIGKILL through <c>Process.Kill</c>).</summary>
internal static partial class PosixSignals
{
    private const int SigKill = 9;
    private const int SigTerm = 15;

    /// <summary>Asks the process to stop; false if it no longer exists.</summary>
    public static bool Terminate(int pid) => pid > 0 && Kill(pid, SigTerm) == 0;

    /// <summary>Kills the process outright (kill -9), giving it no chance to clean up; false if it no longer exists.</summary>
    public static bool KillNow(int pid) => pid > 0 && Kill(pid, SigKill) == 0;

    /// <summary>True while a process with this id runs: signal 0 finds it and it is not a zombie waiting to be reaped.</summary>
    public static bool IsRunning(int pid)
    {
        if (pid <= 0 || Kill(pid, 0) != 0)
        {
            return false;
        }

        try
        {
            // /proc/PID/stat: "pid (comm) S ..."; the state follows the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var end = stat.LastIndexOf(')');
            return end < 0 || end + 2 >= stat.Length || stat[end + 2] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
