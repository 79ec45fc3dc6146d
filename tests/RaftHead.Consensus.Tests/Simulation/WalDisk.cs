using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>
/// The real <see cref="WriteAheadLog"/> under the simulator. A crash cuts every segment file at a random byte
/// between its length at the last sync and its current length, producing the torn tails recovery must handle.
/// </summary>
public sealed class WalDisk : ISimulatedDisk
{
    private static readonly WriteAheadLogOptions Options = new() { SegmentBytes = 4096, FlushToDisk = false };
    private readonly WriteAheadLog _wal;
    private readonly string _directory;
    private Dictionary<string, long> _syncedLengths = new();

    private WalDisk(string directory, WriteAheadLog wal)
    {
        _directory = directory;
        _wal = wal;
        RecordSyncedLengths();
    }

    public static WalDisk Open(string directory) => new(directory, WriteAheadLog.Open(directory, Options));

    public static WalDisk Bootstrap(string directory, Membership.ClusterMembership membership) =>
        new(directory, WriteAheadLog.Bootstrap(directory, membership, Options));

    public long FirstIndex => _wal.FirstIndex;

    public long LastIndex => _wal.LastIndex;

    public Snapshot Snapshot => _wal.Snapshot;

    public RaftInitialState InitialState() => _wal.InitialState();

    public bool TryGetTerm(long index, out long term) => _wal.TryGetTerm(index, out term);

    public IReadOnlyList<LogEntry> Entries(long low, long highExclusive, long maxBytes) => _wal.Entries(low, highExclusive, maxBytes);

    public void Append(IReadOnlyList<LogEntry> entries) => _wal.Append(entries);

    public void SetHardState(HardState hardState) => _wal.SetHardState(hardState);

    public void ApplySnapshot(Snapshot snapshot) => _wal.ApplySnapshot(snapshot);

    public IIncomingSnapshotSink BeginIncomingSnapshot(SnapshotMetadata metadata, long totalBytes) => _wal.BeginIncomingSnapshot(metadata, totalBytes);

    public void Compact(Snapshot snapshot)
    {
        _wal.Compact(snapshot);
        RecordSyncedLengths();
    }

    public void Sync()
    {
        _wal.Sync();
        RecordSyncedLengths();
    }

    public ISimulatedDisk Crash(Random random)
    {
        _wal.Dispose(); // pushes buffered bytes into the files; the cut below decides what "reached the disk"
        // Only the newest segment can be torn: the log flushes a segment to disk when it closes it.
        var newest = Directory.GetFiles(_directory, "wal-*.log").Order(StringComparer.Ordinal).LastOrDefault();
        foreach (var path in newest is null ? [] : new[] { newest })
        {
            var length = new FileInfo(path).Length;
            var synced = _syncedLengths.GetValueOrDefault(path, 0);
            if (length <= synced) continue;
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
            stream.SetLength(synced + random.NextInt64(length - synced + 1));
        }
        return Open(_directory);
    }

    public void Dispose() => _wal.Dispose();

    private void RecordSyncedLengths()
    {
        _syncedLengths = Directory.GetFiles(_directory, "wal-*.log").ToDictionary(p => p, p => new FileInfo(p).Length);
    }
}
