using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>
/// What the core and the <see cref="Driver.ReadyProcessor"/> of one simulated node see as storage: the node's
/// disk, with the simulator's instruments at the write calls (a log-matching check on every append, a power cut
/// that may strike inside <see cref="Sync"/> before anything reached the disk).
/// </summary>
public sealed class SimStorageProbe(ISimulatedDisk disk, Action<IReadOnlyList<LogEntry>, long> beforeAppend, Func<bool> crashAtSync) : IRaftStorage
{
    /// <summary>Syncs that completed; a Ready whose MustSync is false must not add one.</summary>
    public long Syncs { get; private set; }

    public long FirstIndex => disk.FirstIndex;

    public long LastIndex => disk.LastIndex;

    public Snapshot Snapshot => disk.Snapshot;

    public RaftInitialState InitialState() => disk.InitialState();

    public bool TryGetTerm(long index, out long term) => disk.TryGetTerm(index, out term);

    public IReadOnlyList<LogEntry> Entries(long low, long highExclusive, long maxBytes) => disk.Entries(low, highExclusive, maxBytes);

    public void Append(IReadOnlyList<LogEntry> entries)
    {
        if (entries.Count > 0) beforeAppend(entries, disk.TryGetTerm(entries[0].Index - 1, out var term) ? term : 0);
        disk.Append(entries);
    }

    public void SetHardState(HardState hardState) => disk.SetHardState(hardState);

    public void ApplySnapshot(Snapshot snapshot) => disk.ApplySnapshot(snapshot);

    public void Compact(Snapshot snapshot) => disk.Compact(snapshot);

    public void Sync()
    {
        if (crashAtSync()) throw new SimulatedCrashException();
        disk.Sync();
        Syncs++;
    }
}
