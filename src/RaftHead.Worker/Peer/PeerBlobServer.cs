using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Peer;

/// <summary>
/// The worker's peer endpoint: HTTP/2 cleartext gRPC serving <see cref="PeerByteStreamService"/> and
/// <see cref="PeerCasService"/> over the worker's <see cref="FileCache"/>. Meant for a trusted network (loopback by
/// default): it only reads out content-addressed blobs, which every reader verifies.
/// </summary>
public sealed class PeerBlobServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private PeerBlobServer(WebApplication app, PeerBlobReads reads, string endpoint)
    {
        _app = app;
        Reads = reads;
        Endpoint = endpoint;
    }

    /// <summary>The bound address as peers dial it, host:port (the real port when 0 was asked for).</summary>
    public string Endpoint { get; }

    public PeerBlobReads Reads { get; }

    /// <summary>Parses <c>host:port</c> with a literal IP address (port 0: any free port).</summary>
    public static IPEndPoint ParseListen(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon < 0 || text.LastIndexOf(']') > colon || !IPEndPoint.TryParse(text, out var endpoint))
        {
            throw new FormatException($"'{text}' is not ip:port (e.g. 127.0.0.1:0)");
        }

        return endpoint;
    }

    public static async Task<PeerBlobServer> StartAsync(IPEndPoint listen, FileCache cache, ILoggerFactory? loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listen);
        var reads = new PeerBlobReads(cache);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = Array.Empty<string>(), ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (loggerFactory is not null)
        {
            builder.Services.AddSingleton(loggerFactory);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;

            // The heads' HTTP/2 limits: blobs stream out in 256 KiB messages, and large windows and frames keep a fast link busy.
            kestrel.Limits.Http2.InitialConnectionWindowSize = 16 * 1024 * 1024;
            kestrel.Limits.Http2.InitialStreamWindowSize = 8 * 1024 * 1024;
            kestrel.Limits.Http2.MaxFrameSize = (1024 * 1024) - 1;
            kestrel.Listen(listen, options => options.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxSendMessageSize = null;
            grpc.EnableDetailedErrors = false;
        });
        builder.Services.AddSingleton(reads);
        var app = builder.Build();
        app.MapGrpcService<PeerByteStreamService>();
        app.MapGrpcService<PeerCasService>();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var port = listen.Port;
        foreach (var address in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
        {
            port = new Uri(address).Port;
            break;
        }

        var host = listen.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{listen.Address}]" : listen.Address.ToString();
        return new PeerBlobServer(app, reads, $"{host}:{port}");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
