using RaftHead.Rpc.Client;
using RaftHead.Rpc.Server;

namespace RaftHead.Rpc.Tests;

/// <summary>One real Kestrel server on a free loopback port, shared by the tests of a class.</summary>
public sealed class EchoServerFixture : IAsyncLifetime
{
    public const int EchoLimitBytes = 20 * 1024 * 1024;

    public EchoService Service { get; } = new();

    public RpcServer Server { get; private set; } = null!;

    public RpcChannel Channel { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = new RpcServer(new RpcServerOptions(), new[] { Service.Build(EchoLimitBytes) });
        await Server.StartAsync();
        Channel = new RpcChannel(Server.Address.ToString(), new RpcChannelOptions { MaxReceiveMessageBytes = EchoLimitBytes });
    }

    public async Task DisposeAsync()
    {
        Channel.Dispose();
        await Server.DisposeAsync();
    }
}
