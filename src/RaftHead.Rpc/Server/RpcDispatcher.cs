using System.Collections.Frozen;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RaftHead.Rpc.Server;

/// <summary>
/// Turns HTTP/2 requests into calls of registered methods and their outcomes into gRPC responses.
/// It is a plain request delegate, so any Kestrel host can mount it beside other endpoints.
/// </summary>
public sealed class RpcDispatcher
{
    private readonly FrozenDictionary<string, ServerMethod> _methods;
    private readonly FrozenSet<string> _services;
    private readonly int _defaultMaxReceiveMessageBytes;
    private readonly ILogger _logger;

    public RpcDispatcher(IEnumerable<ServiceDefinition> services, int defaultMaxReceiveMessageBytes = GrpcProtocol.DefaultMaxReceiveMessageBytes, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(defaultMaxReceiveMessageBytes);
        var methods = new Dictionary<string, ServerMethod>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var service in services)
        {
            names.Add(service.ServiceName);
            foreach (var method in service.Methods)
            {
                if (!methods.TryAdd(method.FullName, method))
                {
                    throw new ArgumentException($"Method {method.FullName} is registered twice.", nameof(services));
                }
            }
        }

        _methods = methods.ToFrozenDictionary(StringComparer.Ordinal);
        _services = names.ToFrozenSet(StringComparer.Ordinal);
        _defaultMaxReceiveMessageBytes = defaultMaxReceiveMessageBytes;
        _logger = logger ?? NullLogger.Instance;
    }

    public async Task DispatchAsync(HttpContext http)
    {
        var request = http.Request;
        var response = http.Response;
        if (!HttpMethods.IsPost(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        if (request.ContentType is not { } contentType || !contentType.StartsWith(GrpcProtocol.ContentType, StringComparison.OrdinalIgnoreCase))
        {
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            return;
        }

        if (!HttpProtocol.IsHttp2(request.Protocol))
        {
            response.StatusCode = StatusCodes.Status426UpgradeRequired;
            response.Headers.Upgrade = "h2c";
            return;
        }

        response.ContentType = GrpcProtocol.ContentType;
        var path = request.Path.Value ?? "";
        if (!_methods.TryGetValue(path, out var method))
        {
            WriteTrailersOnly(response, new Status(StatusCode.Unimplemented, UnknownMethodMessage(path)), null, null);
            return;
        }

        var encoding = request.Headers[GrpcProtocol.EncodingHeader];
        if (encoding.Count > 0 && !string.Equals(encoding.ToString(), GrpcProtocol.IdentityEncoding, StringComparison.Ordinal))
        {
            response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcProtocol.IdentityEncoding;
            WriteTrailersOnly(
                response,
                new Status(StatusCode.Unimplemented, $"Message encoding '{encoding}' is not supported; this server accepts 'identity'."),
                null,
                null);
            return;
        }

        // gRPC bodies are unbounded streams; the per-message limit below is what protects the server.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = null;
        }

        DateTime? deadlineUtc = null;
        CancellationTokenSource? deadlineSource = null;
        var timeoutHeader = request.Headers[GrpcProtocol.TimeoutHeader];
        if (timeoutHeader.Count > 0)
        {
            if (!GrpcProtocol.TryParseTimeout(timeoutHeader.ToString(), out var timeout))
            {
                WriteTrailersOnly(response, new Status(StatusCode.Internal, $"Malformed grpc-timeout header '{timeoutHeader}'."), null, null);
                return;
            }

            deadlineUtc = DateTime.UtcNow + timeout;
            deadlineSource = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
            deadlineSource.CancelAfter(timeout);
        }

        var call = new ServerCallContext(http, path, deadlineUtc, deadlineSource?.Token ?? http.RequestAborted);
        var maxReceive = method.MaxReceiveMessageBytes > 0 ? method.MaxReceiveMessageBytes : _defaultMaxReceiveMessageBytes;
        try
        {
            await method.InvokeAsync(http, call, maxReceive).ConfigureAwait(false);
            if (deadlineUtc is not null && deadlineSource!.IsCancellationRequested && !http.RequestAborted.IsCancellationRequested)
            {
                // The client has given up; a late success would only be discarded.
                Finish(http, call, new Status(StatusCode.DeadlineExceeded, "Deadline exceeded."), null);
            }
            else
            {
                Finish(http, call, Status.Ok, null);
            }
        }
        catch (RpcException e)
        {
            Finish(http, call, e.Status, e.RichStatus, e.Trailers);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client is gone: nothing can be delivered, Kestrel resets the stream.
        }
        catch (OperationCanceledException) when (deadlineSource is { IsCancellationRequested: true })
        {
            Finish(http, call, new Status(StatusCode.DeadlineExceeded, "Deadline exceeded."), null);
        }
        catch (Exception e) when (IsClientGone(e, http))
        {
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Handler for {Method} failed", path);
            Finish(http, call, new Status(StatusCode.Unknown, $"Exception was thrown by handler: {e.GetType().Name}: {e.Message}"), null);
        }
        finally
        {
            deadlineSource?.Dispose();
        }
    }

    private static bool IsClientGone(Exception e, HttpContext http) =>
        http.RequestAborted.IsCancellationRequested && e is IOException or ObjectDisposedException or InvalidOperationException;

    private string UnknownMethodMessage(string path)
    {
        var slash = path.LastIndexOf('/');
        var service = slash > 1 ? path[1..slash] : "";
        return _services.Contains(service)
            ? $"Method {path} is not implemented by service {service}."
            : $"Service '{service}' is not implemented (method {path}).";
    }

    private static void Finish(HttpContext http, ServerCallContext call, Status status, Google.Rpc.Status? rich, Metadata? extraTrailers = null)
    {
        var response = http.Response;
        if (!call.HeadersSent && !response.HasStarted)
        {
            if (status.Code != StatusCode.OK)
            {
                // An error before any message: discard anything buffered and answer in one HEADERS frame.
                WriteTrailersOnly(response, status, rich, Merge(call, extraTrailers));
                return;
            }
        }

        response.AppendTrailer(GrpcProtocol.StatusHeader, GrpcProtocol.StatusText(status.Code));
        if (status.Detail.Length > 0)
        {
            response.AppendTrailer(GrpcProtocol.MessageHeader, GrpcProtocol.EncodeMessage(status.Detail));
        }

        if (rich is not null)
        {
            response.AppendTrailer(GrpcProtocol.StatusDetailsHeader, GrpcProtocol.EncodeBinaryValue(rich.ToByteArray()));
        }

        var trailers = Merge(call, extraTrailers);
        if (trailers is not null)
        {
            foreach (var entry in trailers)
            {
                var value = entry.IsBinary ? GrpcProtocol.EncodeBinaryValue(entry.BinaryValue) : entry.TextValue!;
                response.AppendTrailer(entry.Key, value);
            }
        }
    }

    private static Metadata? Merge(ServerCallContext call, Metadata? extra)
    {
        if (!call.HasResponseTrailers)
        {
            return extra is { Count: > 0 } ? extra : null;
        }

        if (extra is not { Count: > 0 })
        {
            return call.ResponseTrailers;
        }

        var merged = new Metadata();
        foreach (var entry in call.ResponseTrailers)
        {
            merged.Add(entry);
        }

        foreach (var entry in extra)
        {
            merged.Add(entry);
        }

        return merged;
    }

    private static void WriteTrailersOnly(HttpResponse response, Status status, Google.Rpc.Status? rich, Metadata? trailers)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        var headers = response.Headers;
        headers[GrpcProtocol.StatusHeader] = GrpcProtocol.StatusText(status.Code);
        if (status.Detail.Length > 0)
        {
            headers[GrpcProtocol.MessageHeader] = GrpcProtocol.EncodeMessage(status.Detail);
        }

        if (rich is not null)
        {
            headers[GrpcProtocol.StatusDetailsHeader] = GrpcProtocol.EncodeBinaryValue(rich.ToByteArray());
        }

        if (trailers is not null)
        {
            HttpMetadata.CopyTo(trailers, headers);
        }
    }
}
