using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RaftHead.Head.Hosting;

namespace RaftHead.Worker.Tests;

/// <summary>gRPC servers on free loopback ports for the tests, and an endpoint nobody listens on.</summary>
internal static class TestServers
{
    public static async Task<GrpcServer> StartAsync<TService>(TService service)
        where TService : class
    {
        var server = GrpcServer.Create(
            new GrpcServerOptions { Port = 0, MaxReceiveMessageBytes = 64 * 1024 * 1024 },
            (services, _) => services.AddSingleton(service),
            endpoints => endpoints.MapGrpcService<TService>(),
            _ => { });
        await server.StartAsync();
        return server;
    }

    public static string Endpoint(GrpcServer server) => server.Address.Authority;

    /// <summary>A loopback port that was free a moment ago and is closed now: connecting to it is refused.</summary>
    public static string DeadEndpoint()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"127.0.0.1:{port}";
    }

    /// <summary>Waits for <paramref name="condition"/>, checking every few milliseconds, failing after <paramref name="deadline"/>.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, TimeSpan deadline, string what)
    {
        var start = TimeProvider.System.GetTimestamp();
        while (!condition())
        {
            if (TimeProvider.System.GetElapsedTime(start) > deadline)
            {
                Assert.Fail($"{what} did not happen within {deadline.TotalSeconds} s");
            }

            await Task.Delay(10);
        }
    }

    public static async Task<T> NextAsync<T>(System.Threading.Channels.Channel<T> channel, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            return await channel.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"nothing arrived within {deadline.TotalSeconds} s");
        }
    }
}
