using System.Diagnostics;
using RaftHead.Consensus.Core;

namespace RaftHead.Consensus.Log;

/// <summary>
/// Entries (and possibly an incoming snapshot) that the core has accepted but the driver has not yet persisted.
/// Entries start at <see cref="Offset"/>; they may overlap stable storage, in which case they win.
/// </summary>
public sealed class UnstableLog
{
    private readonly List<LogEntry> _entries = new();

    public UnstableLog(long offset)
    {
        Offset = offset;
    }

    public long Offset { get; private set; }

    public Snapshot? Snapshot { get; private set; }

    public IReadOnlyList<LogEntry> Entries => _entries;

    public long? MaybeFirstIndex() => Snapshot is null ? null : Snapshot.Index + 1;

    public long? MaybeLastIndex()
    {
        if (_entries.Count > 0) return Offset + _entries.Count - 1;
        return Snapshot?.Index;
    }

    public long? MaybeTerm(long index)
    {
        if (index < Offset)
        {
            return Snapshot is not null && Snapshot.Index == index ? Snapshot.Term : null;
        }
        var last = MaybeLastIndex();
        if (last is null || index > last) return null;
        return _entries[(int)(index - Offset)].Term;
    }

    /// <summary>The driver persisted entries up to (index, term); drop them unless they have since been replaced.</summary>
    public void StableTo(long index, long term)
    {
        var t = MaybeTerm(index);
        if (t is null || t != term || index < Offset) return;
        _entries.RemoveRange(0, (int)(index + 1 - Offset));
        Offset = index + 1;
    }

    public void StableSnapshotTo(long index)
    {
        if (Snapshot is not null && Snapshot.Index == index) Snapshot = null;
    }

    public void Restore(Snapshot snapshot)
    {
        Offset = snapshot.Index + 1;
        _entries.Clear();
        Snapshot = snapshot;
    }

    public void TruncateAndAppend(IReadOnlyList<LogEntry> entries)
    {
        if (entries.Count == 0) return;
        var after = entries[0].Index;
        if (after == Offset + _entries.Count)
        {
            // Plain append.
        }
        else if (after <= Offset)
        {
            // Replaces everything unstable (the stable part is overridden by the higher-priority unstable copy).
            Offset = after;
            _entries.Clear();
        }
        else
        {
            _entries.RemoveRange((int)(after - Offset), _entries.Count - (int)(after - Offset));
        }
        _entries.AddRange(entries);
        Debug.Assert(_entries.Select((e, i) => e.Index == Offset + i).All(x => x), "unstable entries must be contiguous");
    }

    public IReadOnlyList<LogEntry> Slice(long low, long highExclusive)
    {
        Debug.Assert(low >= Offset && highExclusive <= Offset + _entries.Count && low <= highExclusive);
        return _entries.GetRange((int)(low - Offset), (int)(highExclusive - low));
    }
}
