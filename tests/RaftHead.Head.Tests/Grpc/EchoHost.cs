using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftHead.Head.Hosting;
using RaftHead.Protocol.Client;

namespace RaftHead.Head.Tests.Grpc;

/// <summary>Hosts <see cref="EchoService"/> the way RaftHead hosts its services: through <see cref="GrpcServer"/>.</summary>
internal static class EchoHost
{
    /// <summary>Room for a 16 MiB message and its framing; the rest of the server keeps its default limit.</summary>
    public const int EchoLimitBytes = 20 * 1024 * 1024;

    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <param name="echoLimitBytes">The echo service's own receive limit; null keeps the server's default.</param>
    public static async Task<GrpcServer> StartAsync(EchoService service, GrpcServerOptions? options = null, int? echoLimitBytes = EchoLimitBytes)
    {
        var server = GrpcServer.Create(
            options ?? new GrpcServerOptions(),
            (services, grpc) =>
            {
                services.AddSingleton(service);
                if (echoLimitBytes is { } limit)
                {
                    grpc.AddServiceOptions<EchoService>(o => o.MaxReceiveMessageSize = limit);
                }
            },
            endpoints => endpoints.MapGrpcService<EchoService>(),
            health => health.AddCheck("echo", () => HealthCheckResult.Healthy()));
        try
        {
            await server.StartAsync().WaitAsync(Bound);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public static GrpcChannel Channel(Uri address, GrpcChannelSettings? settings = null) =>
        GrpcChannels.Create(address, settings ?? new GrpcChannelSettings { MaxReceiveMessageBytes = EchoLimitBytes });

    public static Uri Loopback(int port) => new($"http://127.0.0.1:{port}");

    /// <summary>A loopback port nothing listens on (it was free a moment ago).</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
