using System.Globalization;
using System.Runtime.InteropServices;

namespace RaftHead.Bench.Storage;

/// <summary>One line about the machine: cores, CPU model, memory, OS, load at start, free space where temp files go.</summary>
internal static class MachineNote
{
    public static string Describe(string tempRoot)
    {
        var cpu = ReadFirst("/proc/cpuinfo", "model name")?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        var memKb = ReadFirst("/proc/meminfo", "MemTotal")?.Split(':', 2)[1].Trim().Split(' ')[0];
        var memory = long.TryParse(memKb, CultureInfo.InvariantCulture, out var kb) ? $"{kb / 1024.0 / 1024:0} GB RAM" : "RAM unknown";
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        // A --temp directory that does not exist yet is made here, the first place that needs it.
        var free = new DriveInfo(Directory.CreateDirectory(Path.GetFullPath(tempRoot)).FullName).AvailableFreeSpace;
        return string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} logical cores ({cpu}), {memory}, {RuntimeInformation.OSDescription}; load average {load} at start; {free / 1e9:0} GB free under {tempRoot}");
    }

    private static string? ReadFirst(string path, string prefix) =>
        File.Exists(path) ? File.ReadLines(path).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) : null;
}
