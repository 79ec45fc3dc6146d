namespace RaftHead.Bench.Storage;

/// <summary>Memory of a store holding <see cref="Stored"/> tiny blobs, against the same process before the store was opened.</summary>
internal sealed record IndexMemoryRow(
    long Target,
    long Stored,
    double InsertSeconds,
    long IndexBucketCount,
    int IndexMemorySizeBits,
    long ManagedBytesDelta,
    long RssBytesDelta,
    long IndexLogFileBytes,
    long SegmentFileBytes,
    bool LookupsOk,
    FasterProbe? Faster)
{
    public double ManagedBytesPerBlob => (double)ManagedBytesDelta / Stored;

    public double RssBytesPerBlob => (double)RssBytesDelta / Stored;

    public double IndexLogBytesPerBlob => (double)IndexLogFileBytes / Stored;

    public double InsertsPerSecond => Stored / InsertSeconds;
}
