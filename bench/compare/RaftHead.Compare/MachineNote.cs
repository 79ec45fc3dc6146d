using System.Globalization;
using System.Runtime.InteropServices;

namespace RaftHead.Compare;

/// <summary>One line about the machine: cores, CPU, memory, OS, runtime.</summary>
internal static class MachineNote
{
    public static string Describe()
    {
        var cpu = ReadFirst("/proc/cpuinfo", "model name")?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        var memKb = ReadFirst("/proc/meminfo", "MemTotal")?.Split(':', 2)[1].Trim().Split(' ')[0];
        var memory = long.TryParse(memKb, CultureInfo.InvariantCulture, out var kb) ? $"{kb / 1024.0 / 1024:0} GB RAM" : "RAM unknown";
        return string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} logical cores ({cpu}), {memory}, {RuntimeInformation.OSDescription}, .NET {Environment.Version}");
    }

    /// <summary>The 1-, 5- and 15-minute load averages.</summary>
    public static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    private static string? ReadFirst(string path, string prefix) =>
        File.Exists(path) ? File.ReadLines(path).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) : null;
}
