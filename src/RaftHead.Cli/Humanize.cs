using System.Globalization;

namespace RaftHead.Cli;

/// <summary>Sizes, durations and core counts as a person reads them: "10 GiB", "3m 12s", "2.5".</summary>
internal static class Humanize
{
    private static readonly string[] ByteUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

    /// <summary>Binary units; three significant digits at most ("1.5 MiB", "117 MiB", "10 GiB").</summary>
    public static string Bytes(long bytes)
    {
        if (bytes < 0)
        {
            return "-" + Bytes(-Math.Max(bytes, -long.MaxValue));
        }

        var unit = 0;
        double value = bytes;
        while (value >= 1024 && unit < ByteUnits.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        if (unit == 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{bytes} B");
        }

        // 1023.96 KiB would print as "1024 KiB": carry it into the next unit as "1 MiB".
        if (Math.Round(value, value >= 100 ? 0 : 1) >= 1024 && unit < ByteUnits.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        var digits = value >= 100 ? "0" : "0.#";
        return value.ToString(digits, CultureInfo.InvariantCulture) + " " + ByteUnits[unit];
    }

    public static string Bytes(ulong bytes) => Bytes((long)Math.Min(bytes, long.MaxValue));

    /// <summary>The two largest units that matter: "350ms", "1.5s", "42s", "3m 12s", "2h 05m", "4d 3h".</summary>
    public static string Duration(TimeSpan duration)
    {
        if (duration < TimeSpan.Zero)
        {
            duration = TimeSpan.Zero;
        }

        var c = CultureInfo.InvariantCulture;
        if (duration < TimeSpan.FromSeconds(1))
        {
            return string.Create(c, $"{(int)duration.TotalMilliseconds}ms");
        }

        if (duration < TimeSpan.FromSeconds(10))
        {
            // Truncated, not rounded: 9.96 s is "9.9s", never "10.0s".
            return (Math.Floor(duration.TotalSeconds * 10) / 10).ToString("0.0", c) + "s";
        }

        if (duration < TimeSpan.FromMinutes(1))
        {
            return string.Create(c, $"{(int)duration.TotalSeconds}s");
        }

        if (duration < TimeSpan.FromHours(1))
        {
            return string.Create(c, $"{(int)duration.TotalMinutes}m {duration.Seconds:00}s");
        }

        if (duration < TimeSpan.FromDays(1))
        {
            return string.Create(c, $"{(int)duration.TotalHours}h {duration.Minutes:00}m");
        }

        return string.Create(c, $"{(int)duration.TotalDays}d {duration.Hours}h");
    }

    public static string DurationMs(long milliseconds) => Duration(TimeSpan.FromMilliseconds(milliseconds));

    /// <summary>Thousandths of a core as cores: "2", "0.5", "1.25".</summary>
    public static string Cores(long millis) => (millis / 1000.0).ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>A ratio as a percentage with one decimal ("87.5%"), or "-" when there is nothing to divide.</summary>
    public static string Percent(long part, long whole) =>
        whole == 0 ? "-" : ((double)part / whole).ToString("0.0%", CultureInfo.InvariantCulture);
}
