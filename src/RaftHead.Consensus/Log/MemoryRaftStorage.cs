using System.Diagnostics;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Log;

/// <summary>
/// A volatile <see cref="IRaftStorage"/>: every write is immediately "durable" for as long as the process lives.
/// For tests, simulations and as the in-memory mirror of the write-ahead log.
/// </summary>
public sealed class MemoryRaftStorage : IRaftStorage
{
    private readonly List<LogEntry> _entries = new();
    private HardState _hardState;

    public MemoryRaftStorage()
    {
    }

    /// <summary>Bootstraps a founding member of a new cluster (see <see cref="LogBootstrap"/>).</summary>
    public MemoryRaftStorage(ClusterMembership initialMembership)
    {
        Append(LogBootstrap.Entries(initialMembership));
        _hardState = LogBootstrap.HardState(initialMembership);
    }

    public Snapshot Snapshot { get; private set; } = Snapshot.Empty;

    public HardState HardState => _hardState;

    public long FirstIndex => Snapshot.Index + 1;

    public long LastIndex => Snapshot.Index + _entries.Count;

    public IReadOnlyList<LogEntry> AllEntries => _entries;

    public RaftInitialState InitialState() => new(_hardState, Snapshot.Metadata.Membership);

    public bool TryGetTerm(long index, out long term)
    {
        term = 0;
        if (index == Snapshot.Index)
        {
            term = Snapshot.Term;
            return true;
        }
        if (index < FirstIndex || index > LastIndex) return false;
        term = _entries[(int)(index - FirstIndex)].Term;
        return true;
    }

    public IReadOnlyList<LogEntry> Entries(long low, long highExclusive, long maxBytes)
    {
        if (low < FirstIndex || highExclusive > LastIndex + 1 || low > highExclusive)
        {
            throw new ArgumentOutOfRangeException(nameof(low), $"[{low}, {highExclusive}) outside [{FirstIndex}, {LastIndex + 1}).");
        }
        var result = new List<LogEntry>();
        long bytes = 0;
        for (var i = low; i < highExclusive; i++)
        {
            var e = _entries[(int)(i - FirstIndex)];
            if (result.Count > 0 && bytes + e.SizeBytes > maxBytes) break;
            bytes += e.SizeBytes;
            result.Add(e);
        }
        return result;
    }

    public void Append(IReadOnlyList<LogEntry> entries)
    {
        if (entries.Count == 0) return;
        var first = entries[0].Index;
        if (first > LastIndex + 1) throw new InvalidOperationException($"Gap: appending {first} after {LastIndex}.");
        // Entries already covered by the snapshot are committed and cannot differ; skip them.
        var skip = (int)Math.Max(0, FirstIndex - first);
        if (skip >= entries.Count) return;
        var start = entries[skip].Index;
        _entries.RemoveRange((int)(start - FirstIndex), _entries.Count - (int)(start - FirstIndex));
        for (var i = skip; i < entries.Count; i++) _entries.Add(entries[i]);
        Debug.Assert(_entries.Count == 0 || _entries[^1].Index == LastIndex);
    }

    public void SetHardState(HardState hardState) => _hardState = hardState;

    public void ApplySnapshot(Snapshot snapshot)
    {
        Snapshot = snapshot;
        _entries.Clear();
    }

    public void Compact(Snapshot snapshot)
    {
        if (snapshot.Index <= Snapshot.Index) return;
        if (snapshot.Index > LastIndex) throw new InvalidOperationException($"Cannot compact to {snapshot.Index} beyond last index {LastIndex}.");
        Debug.Assert(TryGetTerm(snapshot.Index, out var t) && t == snapshot.Term, "snapshot term must match the log");
        _entries.RemoveRange(0, (int)(snapshot.Index - Snapshot.Index));
        Snapshot = snapshot;
    }

    public void Sync()
    {
    }

    /// <summary>A deep copy, used by the simulator to model what survives a crash.</summary>
    public MemoryRaftStorage Clone()
    {
        var copy = new MemoryRaftStorage { Snapshot = Snapshot, _hardState = _hardState };
        copy._entries.AddRange(_entries);
        return copy;
    }
}
