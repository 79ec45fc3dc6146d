using System.Diagnostics;
using RaftHead.Consensus.Core;

namespace RaftHead.Consensus.Log;

/// <summary>
/// The node's view of its log: stable storage below, unstable (accepted, not yet persisted) entries above,
/// plus the commit and apply cursors. Invariant: applied ≤ committed ≤ last index.
/// </summary>
public sealed class RaftLog
{
    private readonly IRaftStorage _storage;

    public RaftLog(IRaftStorage storage)
    {
        _storage = storage;
        Unstable = new UnstableLog(storage.LastIndex + 1);
        Committed = storage.FirstIndex - 1;
        Applied = storage.FirstIndex - 1;
    }

    public UnstableLog Unstable { get; }

    public long Committed { get; private set; }

    public long Applied { get; private set; }

    public long FirstIndex => Unstable.MaybeFirstIndex() ?? _storage.FirstIndex;

    public long LastIndex => Unstable.MaybeLastIndex() ?? _storage.LastIndex;

    public long LastTerm => TermOrZero(LastIndex);

    /// <summary>False when the index is compacted away or beyond the end.</summary>
    public bool TryGetTerm(long index, out long term)
    {
        term = 0;
        if (index == 0) return true;
        if (index < FirstIndex - 1 || index > LastIndex) return false;
        var unstable = Unstable.MaybeTerm(index);
        if (unstable is not null)
        {
            term = unstable.Value;
            return true;
        }
        return _storage.TryGetTerm(index, out term);
    }

    public long TermOrZero(long index) => TryGetTerm(index, out var term) ? term : 0;

    public bool MatchTerm(long index, long term) => TryGetTerm(index, out var t) && t == term;

    /// <summary>Raft §5.4.1: a candidate's log is at least as up to date as ours.</summary>
    public bool IsUpToDate(long lastIndex, long lastTerm) =>
        lastTerm > LastTerm || (lastTerm == LastTerm && lastIndex >= LastIndex);

    /// <summary>
    /// Appends the leader's entries following (prevIndex, prevTerm) if our log matches there, truncating any
    /// conflicting suffix, and advances commit. Returns the index of the last entry now known to match, or null.
    /// </summary>
    public long? MaybeAppend(long prevIndex, long prevTerm, long leaderCommit, IReadOnlyList<LogEntry> entries)
    {
        if (!MatchTerm(prevIndex, prevTerm)) return null;
        var lastNew = prevIndex + entries.Count;
        var conflict = FindConflict(entries);
        if (conflict != 0)
        {
            if (conflict <= Committed)
            {
                throw new InvalidOperationException($"Entry {conflict} conflicts with committed entry (commit {Committed}): log matching violated.");
            }
            Append(entries.Skip((int)(conflict - (prevIndex + 1))).ToList());
        }
        CommitTo(Math.Min(leaderCommit, lastNew));
        return lastNew;
    }

    public long Append(IReadOnlyList<LogEntry> entries)
    {
        if (entries.Count == 0) return LastIndex;
        var after = entries[0].Index - 1;
        if (after < Committed) throw new InvalidOperationException($"Appending after {after} would overwrite committed {Committed}.");
        Unstable.TruncateAndAppend(entries);
        return LastIndex;
    }

    /// <summary>First index whose entry differs from ours (or that we lack), 0 when all are already present.</summary>
    public long FindConflict(IReadOnlyList<LogEntry> entries)
    {
        foreach (var e in entries)
        {
            if (!MatchTerm(e.Index, e.Term)) return e.Index;
        }
        return 0;
    }

    /// <summary>
    /// Largest index at or below <paramref name="index"/> whose term is at most <paramref name="term"/>; lets a
    /// rejection skip a whole term of divergent entries in one round trip.
    /// </summary>
    public long FindConflictByTerm(long index, long term)
    {
        for (; index > 0; index--)
        {
            if (!TryGetTerm(index, out var t)) break;
            if (t <= term) break;
        }
        return index;
    }

    public void CommitTo(long index)
    {
        if (index <= Committed) return;
        if (index > LastIndex) throw new InvalidOperationException($"Commit {index} beyond last index {LastIndex}.");
        Committed = index;
    }

    /// <summary>Leader rule §5.4.2: only entries of the current term are committed by counting replicas.</summary>
    public bool MaybeCommit(long index, long term)
    {
        if (index > Committed && TermOrZero(index) == term)
        {
            CommitTo(index);
            return true;
        }
        return false;
    }

    public void AppliedTo(long index)
    {
        if (index == 0) return;
        Debug.Assert(index <= Committed && index >= Applied, $"applied {index} outside [{Applied}, {Committed}]");
        Applied = index;
    }

    public void StableTo(long index, long term) => Unstable.StableTo(index, term);

    public void StableSnapshotTo(long index) => Unstable.StableSnapshotTo(index);

    public void Restore(Snapshot snapshot)
    {
        Unstable.Restore(snapshot);
        Committed = snapshot.Index;
    }

    /// <summary>Applied moves to the snapshot once the driver has restored it.</summary>
    public void AppliedSnapshot(long index)
    {
        Debug.Assert(index <= Committed);
        if (index > Applied) Applied = index;
    }

    public Snapshot Snapshot => Unstable.Snapshot ?? _storage.Snapshot;

    public bool HasNextCommittedEntries => Committed + 1 > Math.Max(Applied + 1, FirstIndex);

    public IReadOnlyList<LogEntry> NextCommittedEntries(long maxBytes)
    {
        var low = Math.Max(Applied + 1, FirstIndex);
        if (Committed + 1 <= low) return Array.Empty<LogEntry>();
        return Slice(low, Committed + 1, maxBytes) ?? throw new InvalidOperationException("Committed entries were compacted before being applied.");
    }

    /// <summary>Entries in [low, highExclusive) up to about <paramref name="maxBytes"/>; null when low is compacted.</summary>
    public IReadOnlyList<LogEntry>? Slice(long low, long highExclusive, long maxBytes)
    {
        if (low < FirstIndex) return null;
        highExclusive = Math.Min(highExclusive, LastIndex + 1);
        if (low >= highExclusive) return Array.Empty<LogEntry>();
        var result = new List<LogEntry>();
        long bytes = 0;
        var offset = Unstable.Offset;
        if (low < offset)
        {
            var stable = _storage.Entries(low, Math.Min(highExclusive, offset), maxBytes);
            foreach (var e in stable)
            {
                bytes += e.SizeBytes;
                result.Add(e);
            }
            if (bytes > maxBytes || result.Count < Math.Min(highExclusive, offset) - low) return result;
        }
        if (highExclusive > offset)
        {
            foreach (var e in Unstable.Slice(Math.Max(low, offset), highExclusive))
            {
                if (result.Count > 0 && bytes + e.SizeBytes > maxBytes) break;
                bytes += e.SizeBytes;
                result.Add(e);
            }
        }
        Debug.Assert(result.Count == 0 || result[0].Index == low);
        return result;
    }

    public override string ToString() => $"first={FirstIndex} last={LastIndex} commit={Committed} applied={Applied} unstable@{Unstable.Offset}+{Unstable.Entries.Count}";
}
