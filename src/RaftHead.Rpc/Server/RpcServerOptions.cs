using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace RaftHead.Rpc.Server;

public sealed record RpcServerOptions
{
    /// <summary>Loopback unless told otherwise: nothing is exposed by default.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>0 picks a free port; read it back from <see cref="RpcServer.Port"/>.</summary>
    public int Port { get; init; }

    /// <summary>With a certificate the endpoint speaks HTTP/2 over TLS (ALPN h2); without, cleartext HTTP/2 with prior knowledge.</summary>
    public X509Certificate2? Certificate { get; init; }

    public int MaxReceiveMessageBytes { get; init; } = GrpcProtocol.DefaultMaxReceiveMessageBytes;

    public int MaxStreamsPerConnection { get; init; } = 1000;

    // Wide flow-control windows keep a single connection from stalling large blob streams on loopback.
    public int ConnectionWindowBytes { get; init; } = 16 * 1024 * 1024;

    public int StreamWindowBytes { get; init; } = 8 * 1024 * 1024;

    public int MaxFrameBytes { get; init; } = 1024 * 1024 - 1;
}
