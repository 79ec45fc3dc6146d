using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>
/// Stable storage with a disk model: writes land in a volatile view at once and reach the durable view only
/// at <see cref="Sync"/>. Each record (one entry, a hard state, a snapshot) is its own write. A crash keeps the
/// durable view, and of the unsynced records an arbitrary subset reached the disk, out of order; recovery (as the
/// write-ahead log's) reads records in order and stops at the first one missing, so what survives is the
/// unsynced prefix before the first hole, whatever came after it.
/// </summary>
public sealed class SimulatedStorage : ISimulatedDisk
{
    private readonly MemoryRaftStorage _durable;
    private readonly MemoryRaftStorage _current;
    private readonly List<Action<MemoryRaftStorage>> _unsynced = new();

    public SimulatedStorage(MemoryRaftStorage durable)
    {
        _durable = durable;
        _current = durable.Clone();
    }

    public long FirstIndex => _current.FirstIndex;

    public long LastIndex => _current.LastIndex;

    public Snapshot Snapshot => _current.Snapshot;

    public int UnsyncedWrites => _unsynced.Count;

    public RaftInitialState InitialState() => _current.InitialState();

    public bool TryGetTerm(long index, out long term) => _current.TryGetTerm(index, out term);

    public IReadOnlyList<LogEntry> Entries(long low, long highExclusive, long maxBytes) => _current.Entries(low, highExclusive, maxBytes);

    public void Append(IReadOnlyList<LogEntry> entries)
    {
        if (entries.Count == 0) return;
        _current.Append(entries.ToArray());
        foreach (var entry in entries) _unsynced.Add(s => s.Append([entry]));
    }

    public void SetHardState(HardState hardState)
    {
        _current.SetHardState(hardState);
        _unsynced.Add(s => s.SetHardState(hardState));
    }

    public void ApplySnapshot(Snapshot snapshot)
    {
        _current.ApplySnapshot(snapshot);
        _unsynced.Add(s => s.ApplySnapshot(snapshot));
    }

    public void Compact(Snapshot snapshot)
    {
        // The write-ahead log syncs its compaction marker before it deletes what the snapshot covers.
        _current.Compact(snapshot);
        _unsynced.Add(s => s.Compact(snapshot));
        Sync();
    }

    public void Sync()
    {
        foreach (var write in _unsynced) write(_durable);
        _unsynced.Clear();
    }

    public ISimulatedDisk Crash(Random random)
    {
        // Each unsynced record reached the disk or not, independently, with a per-crash chance: sometimes the
        // disk kept almost everything, sometimes almost nothing, and later records may be there when earlier
        // ones are not.
        var reached = random.NextDouble();
        var surviving = 0;
        while (surviving < _unsynced.Count && random.NextDouble() < reached) surviving++;
        return Crash(surviving);
    }

    public void Dispose()
    {
    }

    /// <summary>What a restarted process finds: the durable state plus the first <paramref name="survivingWrites"/> unsynced writes.</summary>
    public SimulatedStorage Crash(int survivingWrites)
    {
        for (var i = 0; i < Math.Min(survivingWrites, _unsynced.Count); i++) _unsynced[i](_durable);
        _unsynced.Clear();
        return new SimulatedStorage(_durable);
    }
}
