namespace RaftHead.Cli.Tests;

public sealed class HumanizeTests
{
    [Theory]
    [InlineData(0L, "0 B")]
    [InlineData(1023L, "1023 B")]
    [InlineData(1024L, "1 KiB")]
    [InlineData(512L * 1024, "512 KiB")]
    [InlineData(1536L * 1024, "1.5 MiB")]
    [InlineData(117L * 1024 * 1024 + 300_000, "117 MiB")]
    [InlineData(10L * 1024 * 1024 * 1024, "10 GiB")]
    [InlineData(1024L * 1024 - 1, "1 MiB")]
    [InlineData(long.MaxValue, "8 EiB")]
    [InlineData(-2048L, "-2 KiB")]
    public void Sizes_are_in_binary_units_with_at_most_three_digits(long bytes, string text) => Assert.Equal(text, Humanize.Bytes(bytes));

    [Theory]
    [InlineData(0, "0ms")]
    [InlineData(350, "350ms")]
    [InlineData(1_500, "1.5s")]
    [InlineData(9_960, "9.9s")]
    [InlineData(42_700, "42s")]
    [InlineData(192_000, "3m 12s")]
    [InlineData(7_500_000, "2h 05m")]
    [InlineData(356_400_000, "4d 3h")]
    [InlineData(-5, "0ms")]
    public void Durations_show_their_two_largest_units(long milliseconds, string text) => Assert.Equal(text, Humanize.DurationMs(milliseconds));

    [Theory]
    [InlineData(0L, 0L, "-")]
    [InlineData(7L, 8L, "87.5%")]
    [InlineData(1L, 3L, "33.3%")]
    public void Ratios_are_percentages_and_nothing_over_nothing_is_a_dash(long part, long whole, string text) => Assert.Equal(text, Humanize.Percent(part, whole));

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(500L, "0.5")]
    [InlineData(8000L, "8")]
    [InlineData(1250L, "1.25")]
    public void Thousandths_of_a_core_are_cores(long millis, string text) => Assert.Equal(text, Humanize.Cores(millis));
}
