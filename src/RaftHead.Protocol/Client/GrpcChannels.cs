using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;

namespace RaftHead.Protocol.Client;

/// <summary>
/// The one place RaftHead's gRPC channels are made. A process shares one channel per endpoint through
/// <see cref="Shared"/> (a channel is a connection pool; making one per call would pay a handshake each time).
/// Idempotent methods are retried on UNAVAILABLE by the channel's own retry policy (gRPC's service config):
/// it buffers what it may replay, honours the call's deadline and a server's retry pushback, and stops
/// retrying once a response has started, which is exactly the contract a hand-written retry loop would need.
/// </summary>
public sealed class GrpcChannels : IDisposable
{
    /// <summary>Methods safe to repeat: a retry changes nothing a first success would not have.</summary>
    private static readonly (string Service, string? Method)[] Idempotent =
    {
        ("build.bazel.remote.execution.v2.Capabilities", null),
        ("build.bazel.remote.execution.v2.ContentAddressableStorage", null),
        ("build.bazel.remote.execution.v2.ActionCache", null),
        ("google.bytestream.ByteStream", "Read"),
        ("google.bytestream.ByteStream", "QueryWriteStatus"),
        ("google.longrunning.Operations", "GetOperation"),
        ("google.longrunning.Operations", "ListOperations"),
        ("rafthead.v1.Admin", null),
    };

    private readonly ConcurrentDictionary<string, Lazy<GrpcChannel>> _channels = new(StringComparer.Ordinal);
    private readonly GrpcChannelSettings _settings;

    public GrpcChannels(GrpcChannelSettings? settings = null)
    {
        _settings = settings ?? new GrpcChannelSettings();
        _settings.Validate();
    }

    /// <summary>The process-wide pool with default settings; never disposed (it lives as long as the process).</summary>
    public static GrpcChannels Shared { get; } = new();

    /// <summary>The channel to <paramref name="endpoint"/> (see <see cref="ParseEndpoint"/>), made on first use.</summary>
    public GrpcChannel For(string endpoint)
    {
        var address = ParseEndpoint(endpoint);
        return _channels.GetOrAdd(address.ToString(), key => new Lazy<GrpcChannel>(() => Create(new Uri(key), _settings))).Value;
    }

    /// <summary>A channel the caller owns and disposes (for a peer that must not share a pool, or other settings).</summary>
    public static GrpcChannel Create(Uri address, GrpcChannelSettings settings)
    {
        ArgumentNullException.ThrowIfNull(address);
        settings.Validate();
        var handler = new SocketsHttpHandler
        {
            // One connection serves 100 concurrent streams by default; beyond that more connections open
            // rather than calls queueing behind each other.
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = TimeSpan.FromMilliseconds(settings.ConnectTimeoutMs),
            KeepAlivePingDelay = TimeSpan.FromMilliseconds(settings.KeepAlivePingDelayMs),
            KeepAlivePingTimeout = TimeSpan.FromMilliseconds(settings.KeepAlivePingTimeoutMs),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            // Wide stream windows: one large download does not wait on window updates.
            InitialHttp2StreamWindowSize = 8 * 1024 * 1024,
        };
        if (settings.ServerCertificateValidation is { } validate)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validate;
        }

        return GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = settings.MaxReceiveMessageBytes,
            MaxSendMessageSize = settings.MaxSendMessageBytes,
            MaxRetryAttempts = Math.Max(settings.RetryAttemptsMax, 1),
            ServiceConfig = RetryConfig(settings),
        });
    }

    /// <summary>
    /// An endpoint as users write it: <c>host:port</c> (cleartext), <c>grpc://host:port</c>,
    /// <c>grpcs://host:port</c> (TLS), or <c>http(s)://host:port</c>.
    /// </summary>
    public static Uri ParseEndpoint(string endpoint)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        var text = endpoint.Trim();
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

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.IsDefaultPort && !endpoint.Contains(':', StringComparison.Ordinal)
            || (uri.AbsolutePath.Length > 1))
        {
            throw new FormatException($"'{endpoint}' is not an endpoint: write host:port, grpc://host:port or grpcs://host:port.");
        }

        return new Uri(uri.GetLeftPart(UriPartial.Authority));
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            if (channel.IsValueCreated)
            {
                channel.Value.Dispose();
            }
        }

        _channels.Clear();
    }

    private static ServiceConfig? RetryConfig(GrpcChannelSettings settings)
    {
        if (settings.RetryAttemptsMax <= 1)
        {
            return null;
        }

        var config = new MethodConfig
        {
            RetryPolicy = new RetryPolicy
            {
                MaxAttempts = settings.RetryAttemptsMax,
                InitialBackoff = TimeSpan.FromMilliseconds(settings.RetryBackoffInitialMs),
                MaxBackoff = TimeSpan.FromMilliseconds(settings.RetryBackoffMaxMs),
                BackoffMultiplier = settings.RetryBackoffMultiplier,
                RetryableStatusCodes = { StatusCode.Unavailable },
            },
        };
        foreach (var (service, method) in Idempotent)
        {
            config.Names.Add(new MethodName { Service = service, Method = method });
        }

        return new ServiceConfig { MethodConfigs = { config } };
    }
}
