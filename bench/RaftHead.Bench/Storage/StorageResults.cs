namespace RaftHead.Bench.Storage;

/// <summary>Everything one <c>storage</c> run measured.</summary>
internal sealed record StorageResults(
    IReadOnlyList<IndexMemoryRow> IndexMemory,
    IReadOnlyList<CasRow> Cas,
    double FsyncOf4KiBAppendUs,
    LookupResults Lookups);
