namespace RaftHead.Storage;

/// <summary>
/// Action cache lookups since start, in total and per instance name. A lookup is exactly one of: a hit,
/// a miss (nothing stored) or incomplete (stored, but some output it names is not in the CAS).
/// </summary>
public sealed record ActionCacheStats(
    long Hits,
    long Misses,
    long Incomplete,
    IReadOnlyDictionary<string, InstanceActionCacheStats> Instances);
