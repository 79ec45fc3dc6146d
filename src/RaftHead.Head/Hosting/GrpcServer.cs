using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RaftHead.Head.Hosting;

/// <summary>
/// A Kestrel HTTP/2 endpoint serving grpc-dotnet services, with server reflection and the standard
/// <c>grpc.health.v1</c> service beside them. The health service answers SERVING only while every registered
/// check passes; a host that registers none would answer UNKNOWN, so hosts say what "can serve" means.
/// gzip-compressed requests are accepted (grpc-dotnet's default providers); responses go uncompressed, as
/// blobs are mostly compressed already and loopback is faster than deflate.
/// </summary>
public sealed class GrpcServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly GrpcServerOptions _options;
    private bool _started;

    private GrpcServer(WebApplication app, GrpcServerOptions options)
    {
        _app = app;
        _options = options;
    }

    /// <summary>The bound port (useful when <see cref="GrpcServerOptions.Port"/> was 0).</summary>
    public int Port { get; private set; }

    /// <summary>The address clients dial, e.g. <c>http://127.0.0.1:8980</c>.</summary>
    public Uri Address => new($"{(_options.Certificate is null ? "http" : "https")}://{FormatHost(_options)}:{Port}");

    /// <param name="options">Endpoint and limits.</param>
    /// <param name="configure">Registers the services (as singletons, so the host owns their lifetime) and per-service options.</param>
    /// <param name="map">Maps each service with <c>MapGrpcService</c>.</param>
    /// <param name="healthChecks">The checks that together mean "this node can serve".</param>
    /// <param name="loggerFactory">Where the server's own logs go; none when null.</param>
    public static GrpcServer Create(
        GrpcServerOptions options,
        Action<IServiceCollection, IGrpcServerBuilder> configure,
        Action<IEndpointRouteBuilder> map,
        Action<IHealthChecksBuilder> healthChecks,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = Array.Empty<string>(),
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        if (loggerFactory is not null)
        {
            builder.Services.AddSingleton(loggerFactory);
        }

        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromMilliseconds(options.ShutdownTimeoutMs));
        builder.WebHost.ConfigureKestrel(kestrel => ConfigureEndpoint(kestrel, options));
        var grpc = builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.MaxReceiveMessageBytes;
            grpc.MaxSendMessageSize = null;
            grpc.EnableDetailedErrors = false;
        });
        builder.Services.AddGrpcReflection();
        healthChecks(builder.Services.AddGrpcHealthChecks());
        configure(builder.Services, grpc);
        var app = builder.Build();
        map(app);
        app.MapGrpcReflectionService();
        app.MapGrpcHealthChecksService();
        return new GrpcServer(app, options);
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        _started = true;
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        foreach (var address in addresses)
        {
            Port = new Uri(address).Port;
            break;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_started)
        {
            _started = false;
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Our HTTP/2 limits and the one endpoint; public so a baseline measured beside us uses the same.</summary>
    public static void ConfigureEndpoint(KestrelServerOptions kestrel, GrpcServerOptions options)
    {
        kestrel.AddServerHeader = false;
        kestrel.Limits.MaxRequestBodySize = null;
        kestrel.Limits.Http2.MaxStreamsPerConnection = options.MaxStreamsPerConnection;
        kestrel.Limits.Http2.InitialConnectionWindowSize = options.ConnectionWindowBytes;
        kestrel.Limits.Http2.InitialStreamWindowSize = options.StreamWindowBytes;
        kestrel.Limits.Http2.MaxFrameSize = options.MaxFrameBytes;
        kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(30);
        kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(20);
        kestrel.Listen(options.Address, options.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            if (options.Certificate is not null)
            {
                listen.UseHttps(options.Certificate);
            }
        });
    }

    private static string FormatHost(GrpcServerOptions options) =>
        options.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{options.Address}]" : options.Address.ToString();
}
