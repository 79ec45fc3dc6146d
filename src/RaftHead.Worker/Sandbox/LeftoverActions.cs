using System.Globalization;
using Microsoft.Extensions.Logging;

namespace RaftHead.Worker.Sandbox;

/// <summary>
/// Actions a previous worker process left running. A worker killed with <c>kill -9</c> cannot kill its actions, and
/// nothing else does: they run on as orphans, taking CPU and writing into sandboxes nobody reads, until they end on their
/// own. Their results are never reported; the heads have requeued that work elsewhere. The next runner on the same work
/// directory (it holds the directory's lock, so no live runner owns them) finds them by their working directory inside
/// its sandboxes and kills their process groups before it hands out a sandbox. Found by a scan of <c>/proc</c> at start
/// rather than by records written per action, so the action's own path pays nothing for it.
/// </summary>
internal static class LeftoverActions
{
    /// <summary>Kills every process whose working directory lies under <paramref name="sandboxesRoot"/>, with its process group.</summary>
    /// <returns>The processes found.</returns>
    public static int Kill(string sandboxesRoot, ILogger logger)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(sandboxesRoot)) + "/";
        var own = Environment.ProcessId;
        var ownGroup = ProcessGroupOf(own);
        var found = 0;
        IEnumerable<string> entries;
        try
        {
            entries = System.IO.Directory.EnumerateDirectories("/proc");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Could not look for actions left running by an earlier worker: {Error}", e.Message);
            return 0;
        }

        foreach (var entry in entries)
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == own)
            {
                continue;
            }

            var cwd = WorkingDirectoryOf(pid);
            if (cwd is null || !cwd.StartsWith(root, StringComparison.Ordinal))
            {
                continue;
            }

            found++;
            var group = ProcessGroupOf(pid);
            if (group > 1 && group != ownGroup)
            {
                _ = LibC.Kill(-group, LibC.SIGKILL);
            }

            _ = LibC.Kill(pid, LibC.SIGKILL);
            logger.LogWarning("Killed process {Pid} (group {Group}) left running in {Directory} by an earlier worker process", pid, group, cwd);
        }

        return found;
    }

    private static string? WorkingDirectoryOf(int pid)
    {
        try
        {
            var target = new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget;

            // A sandbox emptied while the process sat in it reads "<path> (deleted)".
            const string Deleted = " (deleted)";
            return target is not null && target.EndsWith(Deleted, StringComparison.Ordinal) ? target[..^Deleted.Length] : target;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // gone meanwhile, or not ours to look at
        }
    }

    /// <summary>Field 5 of <c>/proc/PID/stat</c>, after the parenthesised command name (which may hold spaces).</summary>
    private static int ProcessGroupOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 2 && int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var group) ? group : -1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }
}
