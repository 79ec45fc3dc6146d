namespace RaftHead.Rpc.Tests;

public sealed class GrpcProtocolTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("250m", 2_500_000L)]
    [InlineData("7u", 70L)]
    [InlineData("500n", 5L)]
    [InlineData("99999999S", 999_999_990_000_000L)]
    public void Timeouts_parse_in_every_unit(string text, long ticks)
    {
        Assert.True(GrpcProtocol.TryParseTimeout(text, out var timeout));
        Assert.Equal(ticks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("10s")]
    [InlineData("-1S")]
    [InlineData("123456789S")]
    [InlineData("1.5S")]
    public void Malformed_timeouts_are_rejected(string text)
    {
        Assert.False(GrpcProtocol.TryParseTimeout(text, out _));
    }

    [Theory]
    [InlineData(0.25)]
    [InlineData(1.0)]
    [InlineData(150.0)]
    [InlineData(86_400.0 * 30)]
    public void Formatted_timeouts_fit_eight_digits_and_parse_back_within_a_unit(double seconds)
    {
        var timeout = TimeSpan.FromSeconds(seconds);
        var text = GrpcProtocol.FormatTimeout(timeout);
        Assert.InRange(text.Length, 2, 9);
        Assert.True(GrpcProtocol.TryParseTimeout(text, out var back));
        Assert.InRange(timeout - back, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("100%", "100%25")]
    [InlineData("line\nbreak", "line%0Abreak")]
    [InlineData("naïve", "na%C3%AFve")]
    public void Status_messages_are_percent_encoded(string message, string wire)
    {
        Assert.Equal(wire, GrpcProtocol.EncodeMessage(message));
        Assert.Equal(message, GrpcProtocol.DecodeMessage(wire));
    }

    [Fact]
    public void Malformed_percent_escapes_are_kept_verbatim()
    {
        Assert.Equal("50%zz%4", GrpcProtocol.DecodeMessage("50%zz%4"));
    }

    [Fact]
    public void Binary_values_go_out_unpadded_and_are_read_either_way()
    {
        var bytes = new byte[] { 1, 2, 3, 4 };
        var wire = GrpcProtocol.EncodeBinaryValue(bytes);
        Assert.DoesNotContain('=', wire);
        Assert.Equal(bytes, GrpcProtocol.DecodeBinaryValue(wire));
        Assert.Equal(bytes, GrpcProtocol.DecodeBinaryValue(Convert.ToBase64String(bytes)));
    }

    [Theory]
    [InlineData("127.0.0.1:8980", "http://127.0.0.1:8980/")]
    [InlineData("grpc://localhost:9", "http://localhost:9/")]
    [InlineData("grpcs://h:443", "https://h/")]
    [InlineData("http://[::1]:8980/ignored/path", "http://[::1]:8980/")]
    public void Addresses_in_every_accepted_form_parse(string address, string expected)
    {
        Assert.Equal(expected, Client.RpcChannel.ParseAddress(address).ToString());
    }

    [Theory]
    [InlineData("ftp://h:1")]
    [InlineData("://")]
    public void Other_addresses_are_refused(string address)
    {
        Assert.Throws<ArgumentException>(() => Client.RpcChannel.ParseAddress(address));
    }

    [Fact]
    public void Metadata_keys_are_checked()
    {
        var metadata = new Metadata();
        Assert.Throws<ArgumentException>(() => metadata.Add("bad key", "v"));
        Assert.Throws<ArgumentException>(() => metadata.Add("text-bin", "v"));
        Assert.Throws<ArgumentException>(() => metadata.Add("binary", new byte[] { 1 }));
        metadata.Add("X-Mixed-Case", "v");
        Assert.Equal("x-mixed-case", metadata[0].Key);
    }
}
