namespace RaftHead.Storage.Remote;

/// <summary>How a worker uses a head's CAS. Bounds carry their units in their names.</summary>
public sealed record RemoteBlobStoreOptions
{
    /// <summary>
    /// Blobs up to this size travel in BatchReadBlobs / BatchUpdateBlobs, larger ones over ByteStream. At most the
    /// head's max_batch_total_size_bytes (4 MiB by default).
    /// </summary>
    public int BatchBlobMaxBytes { get; init; } = 1024 * 1024;

    /// <summary>Bytes per ByteStream WriteRequest.</summary>
    public int WriteChunkBytes { get; init; } = 256 * 1024;

    /// <summary>ByteStream messages received ahead of the reader of a large blob (0: none); each holds a chunk of the head's size.</summary>
    public int ReadAheadMessages { get; init; } = 1;

    /// <summary>Every call but a ByteStream transfer waits at most this long for its answer.</summary>
    public int CallTimeoutMs { get; init; } = 60_000;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BatchBlobMaxBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(BatchBlobMaxBytes, 4 * 1024 * 1024);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(WriteChunkBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(ReadAheadMessages);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CallTimeoutMs);
    }
}
