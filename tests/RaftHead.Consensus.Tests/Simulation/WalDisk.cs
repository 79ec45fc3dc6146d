using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>
/// The real <see cref="WriteAheadLog"/> under the simulator. A crash leaves the newest segment's synced bytes
/// intact and treats everything written after the last sync as pages the OS may have written back in any order:
/// each <see cref="PageBytes"/> block independently reached the disk, was never written (zeros) or was torn
/// (garbage), and the file may end anywhere after the synced length. So a later unsynced record can survive an
/// earlier one lost: the holed tails recovery must cut.
/// </summary>
public sealed class WalDisk : ISimulatedDisk
{
    /// <summary>Small, so that one unsynced batch of small records spans several blocks.</summary>
    public const int PageBytes = 64;

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
            var bytes = File.ReadAllBytes(path);
            var end = synced + random.NextInt64(length - synced + 1);
            // Per crash, how likely each unsynced block was lost or torn, so some crashes keep nearly all.
            var lost = random.NextDouble() * 0.5;
            var torn = random.NextDouble() * 0.2;
            for (var page = synced; page < end; page += PageBytes)
            {
                var span = bytes.AsSpan((int)page, (int)Math.Min(PageBytes, end - page));
                var roll = random.NextDouble();
                if (roll < lost) span.Clear();
                else if (roll < lost + torn) random.NextBytes(span);
            }
            File.WriteAllBytes(path, bytes.AsSpan(0, (int)end).ToArray());
        }
        return Open(_directory);
    }

    public void Dispose() => _wal.Dispose();

    private void RecordSyncedLengths()
    {
        _syncedLengths = Directory.GetFiles(_directory, "wal-*.log").ToDictionary(p => p, p => new FileInfo(p).Length);
    }
}
