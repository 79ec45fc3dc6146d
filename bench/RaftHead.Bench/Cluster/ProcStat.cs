using System.Globalization;

namespace RaftHead.Bench.Cluster;

/// <summary>CPU time of a process from /proc/&lt;pid&gt;/stat (utime + stime, clock ticks of 1/100 s on Linux).</summary>
internal static class ProcStat
{
    private const double TicksPerSecond = 100;

    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // The command name (field 2) is in parentheses and may hold spaces; fields count from after its ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state); utime is field 14, stime field 15.
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
    }

    public static string LoadAverage() => File.ReadAllText("/proc/loadavg").Trim();
}
