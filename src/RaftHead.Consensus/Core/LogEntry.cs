namespace RaftHead.Consensus.Core;

/// <summary>One replicated log entry. An entry with empty data is the no-op a new leader appends.</summary>
public sealed record LogEntry(long Term, long Index, EntryType Type, ReadOnlyMemory<byte> Data)
{
    /// <summary>Fixed per-entry overhead counted against byte budgets, so empty entries are not free.</summary>
    public const int OverheadBytes = 24;

    public long SizeBytes => Data.Length + OverheadBytes;
}
