using System.Collections.Concurrent;
using Google.Protobuf;
using Polly;
using Polly.Retry;

namespace RaftHead.Rpc.Client;

/// <summary>
/// A client for one server address: pooled HTTP/2 connections (more are opened when one runs out of streams),
/// typed calls of every shape, deadlines, cancellation, and jittered retries of idempotent calls.
/// </summary>
public sealed class RpcChannel : IDisposable
{
    private readonly ConcurrentDictionary<string, Uri> _uris = new(StringComparer.Ordinal);
    private readonly ResiliencePipeline _retry;

    public RpcChannel(string address, RpcChannelOptions? options = null)
    {
        Options = options ?? new RpcChannelOptions();
        Address = ParseAddress(address);
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = Options.ConnectTimeout,
            InitialHttp2StreamWindowSize = Options.StreamWindowBytes,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
        };
        if (Options.ServerCertificateValidation is { } validation)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validation;
        }

        Http = new HttpMessageInvoker(handler, disposeHandler: true);
        _retry = Options.MaxRetryAttempts <= 0
            ? ResiliencePipeline.Empty
            : new ResiliencePipelineBuilder()
                .AddRetry(new RetryStrategyOptions
                {
                    ShouldHandle = new PredicateBuilder().Handle<RpcException>(e => e.StatusCode == StatusCode.Unavailable),
                    MaxRetryAttempts = Options.MaxRetryAttempts,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = Options.RetryBaseDelay,
                    MaxDelay = Options.RetryMaxDelay,
                })
                .Build();
    }

    public Uri Address { get; }

    public RpcChannelOptions Options { get; }

    internal HttpMessageInvoker Http { get; }

    /// <summary>
    /// Accepts <c>host:port</c>, <c>grpc://host:port</c>, <c>grpcs://host:port</c>, <c>http://</c> and <c>https://</c>.
    /// </summary>
    public static Uri ParseAddress(string address)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(address);
        var text = address.Trim();
        if (text.StartsWith("grpc://", StringComparison.OrdinalIgnoreCase))
        {
            text = "http://" + text["grpc://".Length..];
        }
        else if (text.StartsWith("grpcs://", StringComparison.OrdinalIgnoreCase))
        {
            text = "https://" + text["grpcs://".Length..];
        }
        else if (!text.Contains("://", StringComparison.Ordinal))
        {
            text = "http://" + text;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"'{address}' is not a gRPC address (expected host:port or grpc://host:port).", nameof(address));
        }

        return new Uri(uri.GetLeftPart(UriPartial.Authority));
    }

    public Task<TResponse> UnaryAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        EnsureType(method, MethodType.Unary);
        if (!method.Idempotent || ReferenceEquals(_retry, ResiliencePipeline.Empty))
        {
            return UnaryOnceAsync(method, request, options);
        }

        // The deadline covers all attempts: fix it before the first one.
        if (options.Timeout is not null || options.DeadlineUtc is not null)
        {
            options = options with { DeadlineUtc = DateTime.UtcNow + options.RemainingTime(DateTime.UtcNow)!.Value, Timeout = null };
        }

        return UnaryWithRetriesAsync(method, request, options);
    }

    public ServerStreamingCall<TRequest, TResponse> ServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        EnsureType(method, MethodType.ServerStreaming);
        var call = new ClientCall<TRequest, TResponse>(this, method, options);
        call.Start(new FrameContent<TRequest>(request));
        return new ServerStreamingCall<TRequest, TResponse>(call);
    }

    public ClientStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        EnsureType(method, MethodType.ClientStreaming);
        var call = new ClientCall<TRequest, TResponse>(this, method, options);
        var content = new PushStreamContent();
        call.Start(content);
        return new ClientStreamingCall<TRequest, TResponse>(call, new ClientStreamWriter<TRequest, TResponse>(call, content));
    }

    public DuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        EnsureType(method, MethodType.DuplexStreaming);
        var call = new ClientCall<TRequest, TResponse>(this, method, options);
        var content = new PushStreamContent();
        call.Start(content);
        return new DuplexStreamingCall<TRequest, TResponse>(call, new ClientStreamWriter<TRequest, TResponse>(call, content));
    }

    public void Dispose() => Http.Dispose();

    internal Uri UriFor(string fullName) => _uris.GetOrAdd(fullName, static (name, baseUri) => new Uri(baseUri, name), Address);

    /// <summary>
    /// The first attempt goes straight out; only after an UNAVAILABLE does the call enter the retry pipeline,
    /// whose own first attempt replays that failure so its backoff and attempt count stay exact.
    /// </summary>
    private async Task<TResponse> UnaryWithRetriesAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        RpcException first;
        try
        {
            return await UnaryOnceAsync(method, request, options).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            first = e;
        }

        var state = new RetryState<TRequest, TResponse>(this, method, request, options, first);
        return await _retry.ExecuteAsync(
            static (s, _) =>
            {
                if (s.FirstFailure is { } failure)
                {
                    s.FirstFailure = null;
                    return ValueTask.FromException<TResponse>(failure);
                }

                return new ValueTask<TResponse>(s.Channel.UnaryOnceAsync(s.Method, s.Request, s.Options));
            },
            state,
            options.CancellationToken).ConfigureAwait(false);
    }

    private async Task<TResponse> UnaryOnceAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions options)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        using var call = new ClientCall<TRequest, TResponse>(this, method, options);
        call.Start(new FrameContent<TRequest>(request));
        if (!await call.MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, $"{method.FullName} ended without a response message.");
        }

        var response = call.Current;
        if (await call.MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, $"{method.FullName} sent more than one response message.");
        }

        return response;
    }

    private static void EnsureType<TRequest, TResponse>(Method<TRequest, TResponse> method, MethodType type)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        if (method.Type != type)
        {
            throw new ArgumentException($"{method.FullName} is declared {method.Type}; it cannot be called as {type}.", nameof(method));
        }
    }

    private sealed class RetryState<TRequest, TResponse>(RpcChannel channel, Method<TRequest, TResponse> method, TRequest request, CallOptions options, RpcException firstFailure)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        public RpcChannel Channel { get; } = channel;

        public Method<TRequest, TResponse> Method { get; } = method;

        public TRequest Request { get; } = request;

        public CallOptions Options { get; } = options;

        public RpcException? FirstFailure { get; set; } = firstFailure;
    }
}
