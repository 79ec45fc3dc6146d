using RaftHead.Protocol.Client;

namespace RaftHead.Head.Tests.Grpc;

/// <summary>Endpoints as users write them, parsed by the one channel factory.</summary>
public sealed class GrpcEndpointTests
{
    [Theory]
    [InlineData("127.0.0.1:8980", "http://127.0.0.1:8980/")]
    [InlineData("grpc://localhost:9", "http://localhost:9/")]
    [InlineData("grpcs://h:443", "https://h/")]
    [InlineData("http://[::1]:8980", "http://[::1]:8980/")]
    public void Addresses_in_every_accepted_form_parse(string address, string expected)
    {
        Assert.Equal(expected, GrpcChannels.ParseEndpoint(address).ToString());
    }

    [Theory]
    [InlineData("ftp://h:1")]
    [InlineData("://")]
    public void Other_addresses_are_refused(string address)
    {
        Assert.Throws<FormatException>(() => GrpcChannels.ParseEndpoint(address));
    }
}
