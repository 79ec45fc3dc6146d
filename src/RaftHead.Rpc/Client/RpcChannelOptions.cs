using System.Net.Security;

namespace RaftHead.Rpc.Client;

public sealed record RpcChannelOptions
{
    public int MaxReceiveMessageBytes { get; init; } = GrpcProtocol.DefaultMaxReceiveMessageBytes;

    /// <summary>Retries of idempotent unary calls that failed with UNAVAILABLE; 0 turns retries off.</summary>
    public int MaxRetryAttempts { get; init; } = 4;

    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Client receive window per stream; wide, so one large download does not wait on window updates.</summary>
    public int StreamWindowBytes { get; init; } = 8 * 1024 * 1024;

    public string UserAgent { get; init; } = "rafthead-rpc/1.0";

    /// <summary>For TLS endpoints: overrides certificate validation (e.g. to trust a test certificate).</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; init; }
}
