namespace RaftHead.Consensus.Transport;

/// <summary>Bounds of the peer transport. Units in the names.</summary>
public sealed record RaftTransportOptions
{
    /// <summary>Messages queued per peer; beyond it new messages are dropped (Raft re-sends what matters).</summary>
    public int QueueCapacity { get; init; } = 4096;

    /// <summary>First delay before re-opening a broken stream; doubles (with jitter) up to <see cref="ReconnectDelayMaxMs"/>.</summary>
    public int ReconnectDelayMinMs { get; init; } = 20;

    /// <summary>
    /// Ceiling of the reconnect delay. Short, because a peer that comes back (a restart) is unreachable from us until
    /// our next attempt: with a 1 s ceiling a leader reached its restarted follower up to a second after it was up.
    /// A refused connection costs little; an unreachable host is bounded by <see cref="ConnectTimeoutMs"/>.
    /// </summary>
    public int ReconnectDelayMaxMs { get; init; } = 100;

    /// <summary>
    /// Open each peer's stream as soon as the peer is set, and re-open it after a failure, whether or not anything is
    /// queued for it. Otherwise a stream opens on its first message, which then pays for the connection (and, in a
    /// new process, the first call's JIT: hundreds of ms): the first acknowledgement after a restart, or the first
    /// vote between two followers that had never talked.
    /// </summary>
    public bool OpenStreamsEagerly { get; init; } = true;

    public int ConnectTimeoutMs { get; init; } = 1000;

    /// <summary>
    /// Receive limit of the peer stream: must exceed the largest append batch or snapshot chunk. The host applies
    /// it to <see cref="RaftTransportService"/> (grpc-dotnet sets limits per service); the peer channels use it too.
    /// </summary>
    public int MaxReceiveMessageBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>
    /// Budget of one frame on a peer stream: queued messages are batched into one write up to this many bytes (a
    /// single larger message still goes, alone). Below <see cref="MaxReceiveMessageBytes"/>, which the peer applies.
    /// </summary>
    public int MaxFrameBytes { get; init; } = 1024 * 1024;

    /// <summary>Bounds <see cref="RaftPeerTransport.DisposeAsync"/>: streams still open after it are abandoned (and logged).</summary>
    public int ShutdownTimeoutMs { get; init; } = 5000;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Seeds the reconnect jitter so a run can be replayed; null draws a seed. A <c>Random</c> passed to the transport wins.</summary>
    public int? RandomSeed { get; init; }

    public void Validate()
    {
        if (QueueCapacity <= 0) throw new ArgumentException("QueueCapacity must be positive.");
        if (ReconnectDelayMinMs <= 0 || ReconnectDelayMaxMs < ReconnectDelayMinMs) throw new ArgumentException("Reconnect delays must be positive and ordered.");
        if (ConnectTimeoutMs <= 0) throw new ArgumentException("ConnectTimeoutMs must be positive.");
        if (MaxReceiveMessageBytes <= 0) throw new ArgumentException("MaxReceiveMessageBytes must be positive.");
        if (MaxFrameBytes <= 0 || MaxFrameBytes > MaxReceiveMessageBytes) throw new ArgumentException("MaxFrameBytes must be positive and at most MaxReceiveMessageBytes.");
        if (ShutdownTimeoutMs <= 0) throw new ArgumentException("ShutdownTimeoutMs must be positive.");
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
