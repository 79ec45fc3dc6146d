using System.Net;
using RaftHead.Protocol.Client;

namespace RaftHead.Bench;

/// <summary>
/// The baseline client: an <see cref="HttpMessageInvoker"/> over a <see cref="SocketsHttpHandler"/> set up as
/// <see cref="GrpcChannels.Create"/> sets up its own from the same <see cref="GrpcChannelSettings"/> (h2c prior
/// knowledge, several HTTP/2 connections, same window and keep-alive).
/// </summary>
internal sealed class BareClient : IDisposable
{
    private readonly HttpMessageInvoker _http;
    private readonly Uri _echo;
    private readonly Uri _base;

    public BareClient(Uri address, GrpcChannelSettings settings)
    {
        _base = address;
        _echo = new Uri(address, "/echo");
        _http = new HttpMessageInvoker(
            new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                ConnectTimeout = TimeSpan.FromMilliseconds(settings.ConnectTimeoutMs),
                InitialHttp2StreamWindowSize = 8 * 1024 * 1024,
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                KeepAlivePingDelay = TimeSpan.FromMilliseconds(settings.KeepAlivePingDelayMs),
                KeepAlivePingTimeout = TimeSpan.FromMilliseconds(settings.KeepAlivePingTimeoutMs),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
                AutomaticDecompression = DecompressionMethods.None,
                UseCookies = false,
                UseProxy = false,
            },
            disposeHandler: true);
    }

    /// <summary>Posts a frame and reads the echo into <paramref name="buffer"/>; returns the echoed byte count.</summary>
    public async Task<int> EchoAsync(byte[] frame, byte[] buffer, CancellationToken cancellationToken)
    {
        using var request = NewRequest(_echo, new ByteArrayContent(frame));
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"Bare echo answered HTTP {(int)response.StatusCode}.");
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await body.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return total;
            }

            total += read;
        }

        throw new InvalidOperationException("Bare echo answered more than the buffer holds.");
    }

    /// <summary>Asks for <paramref name="messages"/> frames and drains them; returns the body's byte count.</summary>
    public async Task<long> DownloadAsync(int messages, int messageBytes, byte[] buffer, CancellationToken cancellationToken)
    {
        var uri = new Uri(_base, FormattableString.Invariant($"/stream?n={messages}&size={messageBytes}"));
        using var request = NewRequest(uri, new ByteArrayContent(Array.Empty<byte>()));
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"Bare stream answered HTTP {(int)response.StatusCode}.");
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var expected = (long)messages * (Frames.HeaderBytes + messageBytes + 8);
        long total = 0;
        while (total <= expected)
        {
            var read = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return total;
            }

            total += read;
        }

        throw new InvalidOperationException("Bare stream sent more than it was asked for.");
    }

    public void Dispose() => _http.Dispose();

    private static HttpRequestMessage NewRequest(Uri uri, HttpContent content)
    {
        content.Headers.TryAddWithoutValidation("content-type", Frames.ContentType);
        return new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
    }
}
