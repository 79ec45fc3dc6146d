using System.Globalization;

namespace RaftHead.Compare;

/// <summary>User + system CPU time of processes, from /proc/PID/stat (utime and stime, in clock ticks of 10 ms).</summary>
internal static class CpuTime
{
    private const double MsPerTick = 10;

    public static double TotalMs(IEnumerable<int> pids) => pids.Sum(OfMs);

    public static double OfMs(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * MsPerTick;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }
}
