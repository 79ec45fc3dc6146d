using Microsoft.AspNetCore.Http;

namespace RaftHead.Rpc.Server;

/// <summary>What a handler knows about its call: who asked, with which metadata, until when.</summary>
public sealed class ServerCallContext
{
    private readonly HttpContext _http;
    private Metadata? _responseTrailers;
    private Metadata? _requestHeaders;

    internal ServerCallContext(HttpContext http, string method, DateTime? deadlineUtc, CancellationToken cancellationToken)
    {
        _http = http;
        Method = method;
        DeadlineUtc = deadlineUtc;
        CancellationToken = cancellationToken;
    }

    public string Method { get; }

    public Metadata RequestHeaders => _requestHeaders ??= HttpMetadata.FromRequest(_http.Request.Headers);

    /// <summary>When the client stops waiting, or null if it set no deadline.</summary>
    public DateTime? DeadlineUtc { get; }

    /// <summary>Cancelled when the client cancels, the connection drops or the deadline passes.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Custom trailers sent with the final status.</summary>
    public Metadata ResponseTrailers => _responseTrailers ??= new Metadata();

    public string Peer
    {
        get
        {
            var connection = _http.Connection;
            return connection.RemoteIpAddress is null ? "unknown" : $"{connection.RemoteIpAddress}:{connection.RemotePort}";
        }
    }

    internal bool HasResponseTrailers => _responseTrailers is { Count: > 0 };

    internal bool HeadersSent { get; set; }

    internal HttpContext HttpContext => _http;

    /// <summary>Sends custom response headers now; must come before the first response message.</summary>
    public async ValueTask WriteResponseHeadersAsync(Metadata headers)
    {
        if (HeadersSent)
        {
            throw new InvalidOperationException("Response headers were already sent.");
        }

        HttpMetadata.CopyTo(headers, _http.Response.Headers);
        HeadersSent = true;
        await _http.Response.BodyWriter.FlushAsync(CancellationToken).ConfigureAwait(false);
    }
}
