using Grpc.Net.Client;
using RaftHead.Head.Hosting;

namespace RaftHead.Head.Tests.Grpc;

/// <summary>One real Kestrel server on a free loopback port, shared by the tests of a class, and a channel to it.</summary>
public sealed class EchoServerFixture : IAsyncLifetime
{
    internal EchoService Service { get; } = new();

    internal Echo.EchoClient Client { get; private set; } = null!;

    public GrpcServer Server { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await EchoHost.StartAsync(Service);
        Channel = EchoHost.Channel(Server.Address);
        Client = new Echo.EchoClient(Channel);
    }

    public async Task DisposeAsync()
    {
        Channel.Dispose();
        await Server.DisposeAsync();
    }
}
