namespace RaftHead.Storage.Segments;

/// <summary>
/// What the store writes into each FASTER checkpoint next to the index: the length of every segment at
/// a moment when every record below those lengths was in the index. Recovery re-scans only beyond them.
/// </summary>
internal sealed record CheckpointCookie(
    Dictionary<long, long> SegmentLengths,
    long LatestSegmentId,
    long Sequence,
    List<CheckpointNamespace> Namespaces);
