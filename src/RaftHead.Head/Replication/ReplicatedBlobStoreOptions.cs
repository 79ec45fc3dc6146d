namespace RaftHead.Head.Replication;

/// <summary>How a head copies blobs to its peers and fetches them back. Bounds carry their units in their names.</summary>
public sealed record ReplicatedBlobStoreOptions
{
    /// <summary>
    /// Heads that must hold a blob, this one included, before a write is acknowledged. Capped at the number of heads
    /// there are: a head without peers acknowledges with its own copy.
    /// </summary>
    public int CopiesRequired { get; init; } = 2;

    /// <summary>Deadline of one unary call to a peer (a batch copy or read, a FindMissing).</summary>
    public int PeerCallTimeoutMs { get; init; } = 10_000;

    /// <summary>Longest one streamed copy to a peer, or fetch from one, may take before the next peer is tried.</summary>
    public int PeerTransferTimeoutMs { get; init; } = 300_000;

    /// <summary>Blobs up to this size travel to and from peers in batch calls, larger ones over ByteStream.</summary>
    public int PeerBatchBlobMaxBytes { get; init; } = 1024 * 1024;

    /// <summary>Bytes read from one store and written to the other per step of a streamed copy.</summary>
    public int CopyChunkBytes { get; init; } = 256 * 1024;

    /// <summary>
    /// Blobs stored here but short of <see cref="CopiesRequired"/> that are remembered (and reported missing, so the
    /// client uploads them again); beyond it a shortfall is only logged.
    /// </summary>
    public int UnderReplicatedMax { get; init; } = 100_000;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CopiesRequired);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PeerCallTimeoutMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PeerTransferTimeoutMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PeerBatchBlobMaxBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(PeerBatchBlobMaxBytes, 4 * 1024 * 1024);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CopyChunkBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(UnderReplicatedMax);
    }
}
