using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// An ASP.NET Core gRPC server on 127.0.0.1 as a head hosts its services: Kestrel with cleartext HTTP/2 only
/// (prior knowledge, as peers and tools dial it), the Raft peer service with its receive limit applied, and
/// optionally the test control service.
/// </summary>
internal sealed class GrpcTestServer : IAsyncDisposable
{
    // Bounds a stop: streams that outlive it are aborted. Raft streams end at once when the host's stopping
    // token is cancelled, so only a stuck call ever waits this long.
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    private readonly WebApplication _app;

    private GrpcTestServer(WebApplication app) => _app = app;

    public static async Task<GrpcTestServer> StartAsync(
        int port,
        RaftTransportService raft,
        RaftTransportOptions transportOptions,
        ControlService? control,
        ILoggerFactory? loggerFactory,
        CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (loggerFactory is not null) builder.Services.AddSingleton<ILoggerFactory>(loggerFactory);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
        // grpc-dotnet sets receive limits per service; the default (4 MiB) is below a full batch or snapshot chunk.
        builder.Services.AddGrpc().AddServiceOptions<RaftTransportService>(o => o.MaxReceiveMessageSize = transportOptions.MaxReceiveMessageBytes);
        builder.Services.AddSingleton(raft);
        if (control is not null) builder.Services.AddSingleton(control);
        var app = builder.Build();
        app.MapGrpcService<RaftTransportService>();
        if (control is not null) app.MapGrpcService<ControlService>();
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        return new GrpcTestServer(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
