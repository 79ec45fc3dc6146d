namespace RaftHead.Storage;

/// <summary>Action cache lookups of one instance name; see <see cref="ActionCacheStats"/>.</summary>
public sealed record InstanceActionCacheStats(long Hits, long Misses, long Incomplete);
