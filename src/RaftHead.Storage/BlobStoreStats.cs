namespace RaftHead.Storage;

/// <summary>
/// A snapshot of a blob store's counters. <see cref="Blobs"/> and <see cref="Bytes"/> count CAS blobs
/// held now (the empty blob is implicit and not counted); <see cref="Evictions"/> and <see cref="Corrupt"/>
/// count events since the store was opened.
/// </summary>
public sealed record BlobStoreStats(
    long Blobs,
    long Bytes,
    long ActionResults,
    long DiskBytes,
    long Evictions,
    long Corrupt,
    IReadOnlyDictionary<string, InstanceBlobStats> Instances);
