using System.Net.Security;

namespace RaftHead.Protocol.Client;

/// <summary>How RaftHead's clients talk to a node. Bounds carry their units in their names.</summary>
public sealed record GrpcChannelSettings
{
    /// <summary>Largest message accepted from a server: room for a full batch read (4 MiB of data) and its framing.</summary>
    public int MaxReceiveMessageBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>Largest message sent; the server refuses beyond its own limit with RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>Attempts of an idempotent call in all (the first included) while it fails with UNAVAILABLE; 1 turns retries off.</summary>
    public int RetryAttemptsMax { get; init; } = 5;

    /// <summary>Backoff before the first retry; grows by <see cref="RetryBackoffMultiplier"/> up to <see cref="RetryBackoffMaxMs"/>, each delay drawn uniformly below its ceiling.</summary>
    public int RetryBackoffInitialMs { get; init; } = 50;

    public int RetryBackoffMaxMs { get; init; } = 2_000;

    public double RetryBackoffMultiplier { get; init; } = 2;

    public int ConnectTimeoutMs { get; init; } = 5_000;

    /// <summary>HTTP/2 PING after this much silence on a connection, so a dead peer is noticed by an idle stream.</summary>
    public int KeepAlivePingDelayMs { get; init; } = 30_000;

    public int KeepAlivePingTimeoutMs { get; init; } = 20_000;

    /// <summary>For https endpoints: overrides certificate validation (a cluster CA, a test certificate).</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; init; }

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxReceiveMessageBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxSendMessageBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(RetryAttemptsMax);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(RetryBackoffInitialMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryBackoffMaxMs, RetryBackoffInitialMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryBackoffMultiplier, 1.0);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ConnectTimeoutMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(KeepAlivePingDelayMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(KeepAlivePingTimeoutMs);
    }
}
