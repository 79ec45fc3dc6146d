using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace RaftHead.Head.Hosting;

/// <summary>One gRPC endpoint's settings. Bounds carry their units in their names.</summary>
public sealed record GrpcServerOptions
{
    /// <summary>Loopback unless told otherwise: nothing is exposed by default.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>0 picks a free port; read it back from <see cref="GrpcServer.Port"/>.</summary>
    public int Port { get; init; }

    /// <summary>With a certificate the endpoint speaks HTTP/2 over TLS (ALPN h2); without, cleartext HTTP/2 with prior knowledge.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>Default receive limit of a service; a service may set its own (see <see cref="GrpcServer.Create"/>).</summary>
    public int MaxReceiveMessageBytes { get; init; } = 4 * 1024 * 1024;

    public int MaxStreamsPerConnection { get; init; } = 1000;

    // Wide flow-control windows keep one connection from stalling large blob streams on loopback.
    public int ConnectionWindowBytes { get; init; } = 16 * 1024 * 1024;

    public int StreamWindowBytes { get; init; } = 8 * 1024 * 1024;

    public int MaxFrameBytes { get; init; } = (1024 * 1024) - 1;

    /// <summary>How long a stop waits for calls in flight before it cuts them.</summary>
    public int ShutdownTimeoutMs { get; init; } = 5_000;
}
