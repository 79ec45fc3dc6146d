namespace RaftHead.Storage;

/// <summary>
/// CAS blobs and action results held for one instance name. After a restart, an instance first seen after the last
/// checkpoint is keyed by its namespace hash (<c>#</c> and 16 hex digits) until it is used again.
/// </summary>
public sealed record InstanceBlobStats(long Blobs, long Bytes, long ActionResults);
