using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RaftHead.Rpc.Server;

/// <summary>A Kestrel HTTP/2 endpoint serving gRPC services, and nothing else.</summary>
public sealed class RpcServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _started;

    public RpcServer(RpcServerOptions options, IEnumerable<ServiceDefinition> services, ILoggerFactory? loggerFactory = null)
    {
        Options = options;
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

        builder.WebHost.ConfigureKestrel(kestrel => ConfigureEndpoint(kestrel, options));
        _app = builder.Build();
        var logger = (loggerFactory ?? _app.Services.GetRequiredService<ILoggerFactory>()).CreateLogger<RpcDispatcher>();
        Dispatcher = new RpcDispatcher(services, options.MaxReceiveMessageBytes, logger);
        _app.Run(Dispatcher.DispatchAsync);
    }

    public RpcServerOptions Options { get; }

    public RpcDispatcher Dispatcher { get; }

    /// <summary>The bound port (useful when <see cref="RpcServerOptions.Port"/> was 0).</summary>
    public int Port { get; private set; }

    /// <summary>The address clients dial, e.g. <c>http://127.0.0.1:8980</c>.</summary>
    public Uri Address => new($"{(Options.Certificate is null ? "http" : "https")}://{FormatHost()}:{Port}");

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        _started = true;
        var addresses = _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<IServerAddressesFeature>()!.Addresses;
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
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await StopAsync(cts.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Applies our HTTP/2 settings and one endpoint; shared with hosts that mount the dispatcher themselves.</summary>
    public static void ConfigureEndpoint(KestrelServerOptions kestrel, RpcServerOptions options)
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

    private string FormatHost() =>
        Options.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Options.Address}]" : Options.Address.ToString();
}
