using System.Globalization;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// The GPU amounts an action may ask for, in thousandths of a device: a share of one device (0.1 to 0.9, in tenths)
/// or whole devices (1 to 8). A share never spans two devices; whole devices are never shared.
/// </summary>
public static class GpuRequest
{
    public const uint DeviceMillis = 1_000;
    public const uint WholeDevicesMax = 8;
    public const string AllowedValues = "0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9 (a share of one device) or 1, 2, 3, 4, 5, 6, 7, 8 (whole devices)";

    /// <summary>True for 0 (no GPU) and the allowed amounts.</summary>
    public static bool IsAllowed(uint millis) =>
        millis == 0
        || (millis < DeviceMillis && millis % 100 == 0)
        || (millis % DeviceMillis == 0 && millis / DeviceMillis <= WholeDevicesMax);

    /// <summary>A share of one device (0 excluded).</summary>
    public static bool IsShare(uint millis) => millis is > 0 and < DeviceMillis;

    public static int WholeDevices(uint millis) => (int)(millis / DeviceMillis);

    /// <summary>
    /// Reads a platform property value such as "0.5" or "2" into thousandths of a device. False for text that is not a
    /// plain non-negative decimal with at most three decimals; an amount that parses but is not allowed is left to
    /// <see cref="IsAllowed"/>, so its error can name the allowed values.
    /// </summary>
    public static bool TryParse(string text, out uint millis)
    {
        millis = 0;
        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var devices))
        {
            return false;
        }

        var scaled = devices * DeviceMillis;
        if (scaled != decimal.Truncate(scaled) || scaled > uint.MaxValue)
        {
            return false;
        }

        millis = (uint)scaled;
        return true;
    }

    public static string Format(uint millis) =>
        (millis / (decimal)DeviceMillis).ToString("0.###", CultureInfo.InvariantCulture);
}
