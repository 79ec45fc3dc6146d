using RaftHead.Head.Scheduling;

namespace RaftHead.Head.Tests.Scheduling;

public sealed class GpuRequestAndBackoffTests
{
    [Theory]
    [InlineData("0", 0u)]
    [InlineData("0.1", 100u)]
    [InlineData(".5", 500u)]
    [InlineData("0.90", 900u)]
    [InlineData("1", 1_000u)]
    [InlineData("8", 8_000u)]
    [InlineData("0.15", 150u)]
    [InlineData("12", 12_000u)]
    public void Amounts_parse_to_thousandths_of_a_device(string text, uint millis)
    {
        Assert.True(GpuRequest.TryParse(text, out var parsed));
        Assert.Equal(millis, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("half")]
    [InlineData("0.0001")]
    [InlineData("1e3")]
    public void Text_that_is_no_plain_amount_does_not_parse(string text) => Assert.False(GpuRequest.TryParse(text, out _));

    [Fact]
    public void Exactly_tenths_below_one_and_whole_devices_up_to_eight_are_allowed()
    {
        var allowed = Enumerable.Range(0, 20_000).Select(m => (uint)m).Where(GpuRequest.IsAllowed).ToList();
        Assert.Equal([0u, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000], allowed);
    }

    [Fact]
    public void Backoff_doubles_per_attempt_up_to_the_cap_and_jitter_moves_it_within_the_upper_half()
    {
        Assert.Equal(1_050, Backoff.NotBeforeUnixMs(1_000, 1, baseMs: 100, maxMs: 10_000, jitter: 0));
        Assert.Equal(1_100, Backoff.NotBeforeUnixMs(1_000, 2, baseMs: 100, maxMs: 10_000, jitter: 0));
        Assert.Equal(1_000 + 5_000 + 4_999, Backoff.NotBeforeUnixMs(1_000, 40, baseMs: 100, maxMs: 10_000, jitter: 0.9999));
        Assert.Equal(1_000 + 200 + 100, Backoff.NotBeforeUnixMs(1_000, 3, baseMs: 100, maxMs: 10_000, jitter: 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => Backoff.NotBeforeUnixMs(0, 1, 100, 1_000, 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Backoff.NotBeforeUnixMs(0, 0, 100, 1_000, 0));
    }
}
