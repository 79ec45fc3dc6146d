using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftHead.Head.Admin;
using RaftHead.Head.Hosting;

namespace RaftHead.Cli.Tests;

/// <summary>A gRPC server on a free loopback port that serves one service (the Admin API), with answers a test chooses.</summary>
internal sealed class FakeHead : IAsyncDisposable
{
    private readonly GrpcServer _server;

    private FakeHead(GrpcServer server)
    {
        _server = server;
    }

    public string Address => $"127.0.0.1:{_server.Port}";

    public static Task<FakeHead> StartAsync(AdminService admin) => StartAsync<AdminService>(admin);

    public static async Task<FakeHead> StartAsync<TService>(TService service)
        where TService : class
    {
        var server = GrpcServer.Create(
            new GrpcServerOptions { Port = 0 },
            (services, _) => services.AddSingleton(service),
            endpoints => endpoints.MapGrpcService<TService>(),
            health => health.AddCheck("fake", () => HealthCheckResult.Healthy()));
        await server.StartAsync();
        return new FakeHead(server);
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    /// <summary>A loopback port nothing listens on (taken from the OS, then released).</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
