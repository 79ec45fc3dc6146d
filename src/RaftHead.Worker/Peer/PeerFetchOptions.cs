namespace RaftHead.Worker.Peer;

public sealed record PeerFetchOptions
{
    /// <summary>
    /// Smaller blobs are read from the heads directly: below this, a where-is round trip plus a peer call costs more
    /// than the one batched head read it would save (Action, Command and Directory messages are mostly this small).
    /// </summary>
    public long PeerFetchMinBytes { get; init; } = 64 * 1024;

    /// <summary>Peer fetches under way at once; more wait (a slow peer must not take every connection of a build).</summary>
    public int ConcurrentFetchesMax { get; init; } = 8;

    /// <summary>Peers tried per blob before the heads.</summary>
    public int PeersTriedMax { get; init; } = 3;

    /// <summary>A peer that sent wrong bytes, or could not be reached, is skipped for this long.</summary>
    public int SuspectMs { get; init; } = 60_000;

    /// <summary>One peer read may take this long before the next source is tried.</summary>
    public int PeerReadTimeoutMs { get; init; } = 60_000;

    /// <summary>A fetched blob is verified in memory up to this size, beyond it in a temp file of the cache.</summary>
    public int SpoolInMemoryMaxBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>
    /// Messages of a peer read received ahead while the last one is hashed and spooled (0: none). One is what pays:
    /// 4 MiB blobs arrive about a third faster; more ahead left 64 MiB blobs slower (bench/RESULTS.md).
    /// </summary>
    public int ReadAheadMessages { get; init; } = 1;

    /// <summary>Corrupt fetches waiting for a heartbeat to report them at most; more are dropped (and counted).</summary>
    public int CorruptReportsPendingMax { get; init; } = 1_024;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(PeerFetchMinBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ConcurrentFetchesMax);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PeersTriedMax);
        ArgumentOutOfRangeException.ThrowIfNegative(SuspectMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PeerReadTimeoutMs);
        ArgumentOutOfRangeException.ThrowIfNegative(SpoolInMemoryMaxBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(ReadAheadMessages);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CorruptReportsPendingMax);
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
