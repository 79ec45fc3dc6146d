using System.Buffers;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RaftHead.Head.Hosting;

namespace RaftHead.Bench;

/// <summary>
/// The baseline: Kestrel with the HTTP/2 settings <see cref="GrpcServer"/> gives its endpoint (from the same
/// <see cref="GrpcServerOptions"/>) and a plain request delegate. <c>POST /echo</c> writes the request body back; <c>POST /stream?n=&amp;size=</c> writes n
/// gRPC-framed messages of size bytes. No gRPC status, trailers or message parsing: the cost we add is the difference.
/// </summary>
internal sealed class BareKestrelServer : IAsyncDisposable
{
    private const int MaxEchoBytes = 1024 * 1024;

    private readonly WebApplication _app;
    private readonly Dictionary<int, byte[]> _frames = new();
    private readonly Lock _framesLock = new();

    public BareKestrelServer(GrpcServerOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = Array.Empty<string>(),
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => GrpcServer.ConfigureEndpoint(kestrel, options));
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    public Uri Address { get; private set; } = new("http://127.0.0.1/");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Address = new Uri(new Uri(address).GetLeftPart(UriPartial.Authority));
    }

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(cts.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private Task HandleAsync(HttpContext http) => http.Request.Path.Value switch
    {
        "/echo" => EchoAsync(http),
        "/stream" => StreamAsync(http),
        _ => NotFound(http),
    };

    private static Task NotFound(HttpContext http)
    {
        http.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    private static async Task EchoAsync(HttpContext http)
    {
        var reader = http.Request.BodyReader;
        var writer = http.Response.BodyWriter;
        var token = http.RequestAborted;
        http.Response.ContentType = Frames.ContentType;
        long total = 0;
        while (true)
        {
            var result = await reader.ReadAsync(token).ConfigureAwait(false);
            var buffer = result.Buffer;
            total += buffer.Length;
            if (total > MaxEchoBytes)
            {
                reader.AdvanceTo(buffer.End);
                http.Abort();
                return;
            }

            foreach (var segment in buffer)
            {
                writer.Write(segment.Span);
            }

            reader.AdvanceTo(buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                break;
            }
        }
    }

    private async Task StreamAsync(HttpContext http)
    {
        var query = http.Request.Query;
        if (!int.TryParse(query["n"], NumberStyles.None, CultureInfo.InvariantCulture, out var messages)
            || !int.TryParse(query["size"], NumberStyles.None, CultureInfo.InvariantCulture, out var messageBytes)
            || messages > Payloads.MaxStreamMessages
            || messageBytes > Payloads.MaxStreamMessageBytes)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        http.Response.ContentType = Frames.ContentType;
        var frame = FrameOf(messageBytes);
        var writer = http.Response.BodyWriter;
        for (var i = 0; i < messages; i++)
        {
            await writer.WriteAsync(frame, http.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>The exact bytes our server sends for one streamed message of this size.</summary>
    private byte[] FrameOf(int messageBytes)
    {
        lock (_framesLock)
        {
            if (!_frames.TryGetValue(messageBytes, out var frame))
            {
                frame = Frames.Encode(Payloads.Of(messageBytes));
                _frames.Add(messageBytes, frame);
            }

            return frame;
        }
    }
}
