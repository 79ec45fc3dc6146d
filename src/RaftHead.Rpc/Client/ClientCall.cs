using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace RaftHead.Rpc.Client;

/// <summary>
/// One call on the wire: sends the request, reads response frames and the final status, and maps every
/// transport failure, deadline and cancellation onto a gRPC status. All call shapes are built on it.
/// </summary>
internal sealed class ClientCall<TRequest, TResponse> : IAsyncStreamReader<TResponse>, IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly RpcChannel _channel;
    private readonly Method<TRequest, TResponse> _method;
    private readonly CallOptions _options;
    // Null for a unary call without deadline: the caller's token is enough, and a failed or abandoned
    // unary call resets its stream when its response is disposed.
    private readonly CancellationTokenSource? _cts;
    private readonly CancellationToken _token;
    private readonly byte[] _header = new byte[GrpcProtocol.FrameHeaderBytes];
    private Task<HttpResponseMessage>? _send;
    private HttpResponseMessage? _response;
    private Stream? _body;
    private TResponse? _current;
    private Status? _status;
    private Metadata? _trailers;
    private bool _disposed;

    public ClientCall(RpcChannel channel, Method<TRequest, TResponse> method, CallOptions options)
    {
        _channel = channel;
        _method = method;
        _options = options;
        Timeout = options.RemainingTime(DateTime.UtcNow);
        if (Timeout is null && method.Type == MethodType.Unary)
        {
            _token = options.CancellationToken;
            return;
        }

        _cts = options.CancellationToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken)
            : new CancellationTokenSource();
        if (Timeout is { } timeout)
        {
            _cts.CancelAfter(timeout);
        }

        _token = _cts.Token;
    }

    public TimeSpan? Timeout { get; }

    public CancellationToken Token => _token;

    public TResponse Current => _current ?? throw new InvalidOperationException("MoveNext has not returned true.");

    public Status? FinalStatus => _status;

    public Metadata Trailers => _trailers ??= _response is not null && _status is { Code: StatusCode.OK } && _body is not null
        ? HttpMetadata.FromResponse(_response.TrailingHeaders)
        : new Metadata();

    private Metadata? _responseHeaders;

    public Metadata? ResponseHeaders => _response is null ? null : _responseHeaders ??= HttpMetadata.FromResponse(_response.Headers);

    public void Start(HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _channel.UriFor(_method.FullName))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        var headers = request.Headers;
        headers.TryAddWithoutValidation("te", "trailers");
        headers.TryAddWithoutValidation("user-agent", _channel.Options.UserAgent);
        if (Timeout is { } timeout)
        {
            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcProtocol.FormatTimeout(timeout));
        }

        if (_options.Headers is { } metadata)
        {
            HttpMetadata.CopyTo(metadata, headers);
        }

        if (_token.IsCancellationRequested)
        {
            throw MapException(new OperationCanceledException(_token));
        }

        _send = _channel.Http.SendAsync(request, _token);
    }

    /// <summary>Waits for response headers; a Trailers-Only error response throws here.</summary>
    public async ValueTask<Metadata> ReadHeadersAsync()
    {
        await EnsureHeadersAsync().ConfigureAwait(false);
        return ResponseHeaders!;
    }

    private async ValueTask EnsureHeadersAsync()
    {
        if (_response is not null)
        {
            return;
        }

        HttpResponseMessage response;
        try
        {
            response = await _send!.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            throw MapException(e);
        }

        _response = response;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw Fail(new Status(GrpcProtocol.StatusFromHttp((int)response.StatusCode), $"HTTP status {(int)response.StatusCode} from {_method.FullName}."), null);
        }

        if (TryReadStatus(response.Headers, out var status, out var rich))
        {
            // Trailers-Only: the headers are the whole answer.
            _trailers = ResponseHeaders;
            if (status.Code != StatusCode.OK)
            {
                throw Fail(status, rich);
            }

            _status = status;
            return;
        }

        string? contentType = response.Content.Headers.NonValidated.TryGetValues("content-type", out var contentTypes) ? contentTypes.ToString() : null;
        if (contentType is null || !contentType.StartsWith(GrpcProtocol.ContentType, StringComparison.OrdinalIgnoreCase))
        {
            throw Fail(new Status(StatusCode.Unknown, $"The response has content type '{contentType}', not {GrpcProtocol.ContentType}."), null);
        }

        try
        {
            _body = await response.Content.ReadAsStreamAsync(_token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            throw MapException(e);
        }
    }

    public async ValueTask<bool> MoveNext(CancellationToken cancellationToken = default)
    {
        if (_status is { } done)
        {
            return done.Code == StatusCode.OK ? false : throw new RpcException(done, null, _trailers);
        }

        await EnsureHeadersAsync().ConfigureAwait(false);
        if (_body is null)
        {
            _current = null;
            return false;
        }

        // A token given to one read cancels the whole call, as gRPC's stream readers do.
        var token = _token;
        CancellationTokenSource? readSource = null;
        CancellationTokenRegistration registration = default;
        if (cancellationToken.CanBeCanceled)
        {
            if (_cts is not null)
            {
                registration = cancellationToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), _cts);
            }
            else
            {
                readSource = CancellationTokenSource.CreateLinkedTokenSource(_token, cancellationToken);
                token = readSource.Token;
            }
        }

        try
        {
            var read = await _body.ReadAtLeastAsync(_header, GrpcProtocol.FrameHeaderBytes, throwOnEndOfStream: false, token).ConfigureAwait(false);
            if (read == 0)
            {
                CompleteFromTrailers();
                _current = null;
                return false;
            }

            if (read < GrpcProtocol.FrameHeaderBytes)
            {
                throw Fail(new Status(StatusCode.Internal, "The response stream ended inside a frame header."), null);
            }

            if (_header[0] != 0)
            {
                throw Fail(new Status(StatusCode.Internal, "The server sent a compressed message though the call asked for identity encoding."), null);
            }

            var length = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(1));
            if (length > (uint)_channel.Options.MaxReceiveMessageBytes)
            {
                throw Fail(new Status(StatusCode.ResourceExhausted, $"Received message larger than max ({length} vs. {_channel.Options.MaxReceiveMessageBytes} bytes)."), null);
            }

            var buffer = ArrayPool<byte>.Shared.Rent((int)length);
            try
            {
                await _body.ReadExactlyAsync(buffer.AsMemory(0, (int)length), token).ConfigureAwait(false);
                _current = MessageWriter<TResponse>.NeedsArray
                    ? _method.ResponseParser.ParseFrom(buffer, 0, (int)length)
                    : _method.ResponseParser.ParseFrom(buffer.AsSpan(0, (int)length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            return true;
        }
        catch (RpcException)
        {
            throw;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw Fail(new Status(StatusCode.Internal, $"The response message could not be parsed: {e.Message}"), null);
        }
        catch (EndOfStreamException)
        {
            throw Fail(new Status(StatusCode.Internal, "The response stream ended inside a message."), null);
        }
        catch (Exception e)
        {
            throw MapException(e);
        }
        finally
        {
            registration.Dispose();
            readSource?.Dispose();
        }
    }

    /// <summary>Turns a transport exception into the status the caller should see.</summary>
    public RpcException MapException(Exception e)
    {
        if (e is RpcException rpc)
        {
            return rpc;
        }

        Status status;
        if (_token.IsCancellationRequested || e is OperationCanceledException)
        {
            status = _options.CancellationToken.IsCancellationRequested
                ? new Status(StatusCode.Cancelled, "The call was cancelled by the caller.")
                : Timeout is not null
                    ? new Status(StatusCode.DeadlineExceeded, $"Deadline exceeded after {Timeout.Value.TotalMilliseconds:0} ms calling {_method.FullName}.")
                    : new Status(StatusCode.Cancelled, "The call was cancelled.");
        }
        else if (e is HttpProtocolException protocol)
        {
            // HTTP/2 error codes: REFUSED_STREAM (7) means the server never started the call.
            status = protocol.ErrorCode switch
            {
                0x7 => new Status(StatusCode.Unavailable, $"The server refused the stream: {protocol.Message}"),
                0x8 => new Status(StatusCode.Cancelled, $"The server cancelled the stream: {protocol.Message}"),
                0xb => new Status(StatusCode.ResourceExhausted, $"The server reported excessive load: {protocol.Message}"),
                _ => new Status(StatusCode.Internal, $"HTTP/2 error {protocol.ErrorCode}: {protocol.Message}"),
            };
        }
        else if (e is HttpRequestException or IOException)
        {
            status = new Status(StatusCode.Unavailable, $"{_channel.Address} is unavailable: {e.Message}");
        }
        else
        {
            status = new Status(StatusCode.Internal, $"{e.GetType().Name}: {e.Message}");
        }

        return Fail(status, null);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_status is null)
        {
            // Abandoned mid-call: resetting the stream tells the server to stop.
            _cts?.Cancel();
        }

        _body?.Dispose();
        _response?.Dispose();
        _cts?.Dispose();
    }

    private void CompleteFromTrailers()
    {
        var trailers = _response!.TrailingHeaders;
        if (!TryReadStatus(trailers, out var status, out var rich))
        {
            _trailers = HttpMetadata.FromResponse(trailers);
            throw Fail(new Status(StatusCode.Internal, $"The response to {_method.FullName} ended without a grpc-status."), null);
        }

        if (status.Code != StatusCode.OK)
        {
            _trailers = HttpMetadata.FromResponse(trailers);
            throw Fail(status, rich);
        }

        _status = status;
    }

    private RpcException Fail(Status status, Google.Rpc.Status? rich)
    {
        _status = status;
        return new RpcException(status, rich, _trailers);
    }

    private static bool TryReadStatus(HttpHeaders headers, out Status status, out Google.Rpc.Status? rich)
    {
        rich = null;
        status = default;
        if (!headers.NonValidated.TryGetValues(GrpcProtocol.StatusHeader, out var codes))
        {
            return false;
        }

        var codeText = codes.Count == 1 ? codes.ToString() : FirstValue(codes);
        if (!int.TryParse(codeText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code))
        {
            status = new Status(StatusCode.Unknown, $"Malformed grpc-status '{codeText}'.");
            return true;
        }

        var message = headers.NonValidated.TryGetValues(GrpcProtocol.MessageHeader, out var messages) ? GrpcProtocol.DecodeMessage(FirstValue(messages)) : "";
        if (headers.NonValidated.TryGetValues(GrpcProtocol.StatusDetailsHeader, out var details))
        {
            try
            {
                rich = Google.Rpc.Status.Parser.ParseFrom(GrpcProtocol.DecodeBinaryValue(FirstValue(details) ?? ""));
            }
            catch (Exception e) when (e is FormatException or InvalidProtocolBufferException)
            {
                rich = null;
            }
        }

        status = new Status(code is >= 0 and <= 16 ? (StatusCode)code : StatusCode.Unknown, message);
        return true;
    }

    private static string? FirstValue(IEnumerable<string> values)
    {
        foreach (var value in values)
        {
            return value;
        }

        return null;
    }
}
