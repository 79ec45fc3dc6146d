using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;
using RaftHead.Durability;

namespace RaftHead.Consensus.Log;

/// <summary>
/// Durable <see cref="IRaftStorage"/>: an append-only sequence of segment files holding entry, hard-state and
/// snapshot-marker records (see <see cref="WalCodec"/>), plus snapshot files. The log since the snapshot is
/// also kept in memory, which serves all reads; the files are only read at <see cref="Open"/>.
/// <para>
/// Durability contract: records are buffered until <see cref="Sync"/>, which issues one flush-to-disk for the
/// whole batch (group commit). Hard state is a record in the same ordered stream as the entries, so whatever
/// prefix survives a crash is self-consistent: a durable commit index never outruns durable entries.
/// </para>
/// <para>
/// Recovery: a record that fails its checksum at the end of the last segment is a torn write and is cut off
/// with everything after it; a bad record followed by any valid record, a bad record in an older segment, a
/// missing snapshot, or a commit index beyond the recovered log is corruption and <see cref="Open"/> throws
/// <see cref="WalCorruptionException"/> naming the file and offset.
/// </para>
/// <para>
/// One owner: the log holds its directory's <see cref="DataDirectoryLock"/> from before recovery touches a file until
/// <see cref="Dispose"/>; a second open (another process, or this one) fails with <see cref="DataDirectoryInUseException"/>.
/// </para>
/// </summary>
public sealed class WriteAheadLog : IRaftStorage, IDisposable
{
    private const string SegmentPrefix = "wal-";
    private const string SegmentSuffix = ".log";
    private readonly string _directory;
    private readonly WriteAheadLogOptions _options;
    private readonly MemoryRaftStorage _memory;
    private readonly List<Segment> _segments;
    private readonly DataDirectoryLock _lock;
    private FileStream _active;
    private long _activeLength;
    private byte[] _buffer = new byte[4096];
    private long _lastResetSegment;
    private long _syncedBytes;
    private bool _syncMarkDue;
    private bool _disposed;

    // The snapshot whose file PrepareSnapshot made durable, handed from its thread to the loop's Compact.
    private Snapshot? _prepared;

    // The leader's snapshot being streamed to a file, and once complete the snapshot whose file is already in place.
    private FileSnapshotSink? _incoming;
    private Snapshot? _received;

    private WriteAheadLog(string directory, DataDirectoryLock held, WriteAheadLogOptions options, MemoryRaftStorage memory, List<Segment> segments, long lastResetSegment)
    {
        _directory = directory;
        _lock = held;
        _options = options;
        _memory = memory;
        _segments = segments;
        _lastResetSegment = lastResetSegment;
        var last = segments[^1];
        _active = new FileStream(last.Path, FileMode.Open, FileAccess.Write, FileShare.Read, bufferSize: 64 * 1024);
        _activeLength = _active.Seek(0, SeekOrigin.End);
    }

    public string Directory => _directory;

    /// <summary>Flushes to disk so far (one per <see cref="Sync"/>, plus one per segment roll and compaction).</summary>
    public long FlushCount { get; private set; }

    public int SegmentCount => _segments.Count;

    public long FirstIndex => _memory.FirstIndex;

    public long LastIndex => _memory.LastIndex;

    public Snapshot Snapshot => _memory.Snapshot;

    public HardState HardState => _memory.HardState;

    /// <summary>Creates the log of a founding member of a new cluster (see <see cref="LogBootstrap"/>).</summary>
    public static WriteAheadLog Bootstrap(string directory, ClusterMembership membership, WriteAheadLogOptions? options = null)
    {
        if (System.IO.Directory.Exists(directory) && ListSegments(directory).Count > 0)
        {
            throw new InvalidOperationException($"{directory} already holds a write-ahead log.");
        }
        var wal = Open(directory, options);
        wal.Append(LogBootstrap.Entries(membership));
        wal.SetHardState(LogBootstrap.HardState(membership));
        wal.Sync();
        return wal;
    }

    /// <summary>Opens (creating if absent) the log in <paramref name="directory"/>, recovering from a crash.</summary>
    public static WriteAheadLog Open(string directory, WriteAheadLogOptions? options = null)
    {
        options ??= new WriteAheadLogOptions();
        if (options.FlushToDisk)
        {
            DurableDirectory.Create(directory);
        }
        else
        {
            System.IO.Directory.CreateDirectory(directory);
        }
        var held = DataDirectoryLock.Acquire(directory);
        try
        {
            return OpenLocked(directory, held, options);
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    private static WriteAheadLog OpenLocked(string directory, DataDirectoryLock held, WriteAheadLogOptions options)
    {
        foreach (var temporary in System.IO.Directory.EnumerateFiles(directory, "*.tmp")) File.Delete(temporary);

        var segments = ListSegments(directory);
        if (segments.Count == 0)
        {
            var first = new Segment(1, SegmentPath(directory, 1));
            using (File.Create(first.Path))
            {
            }
            if (options.FlushToDisk) DurableDirectory.Sync(directory);
            var fresh = new WriteAheadLog(directory, held, options, new MemoryRaftStorage(), [first], 0);
            fresh.WriteSegmentHeader();
            fresh.Sync();
            return fresh;
        }
        return Recover(directory, held, options, segments);
    }

    private static WriteAheadLog Recover(string directory, DataDirectoryLock held, WriteAheadLogOptions options, List<Segment> segments)
    {
        var hardState = default(HardState);
        long snapshotIndex = 0, snapshotTerm = 0, lastResetSegment = 0;
        // entries[0] has index baseIndex + 1. Once older segments are deleted, the oldest surviving one may
        // start past its own header's snapshot; such a gap is fine only if a later marker's snapshot covers it.
        long baseIndex = 0, gapUntil = 0;
        var entries = new List<LogEntry>();
        var tornAt = -1;
        for (var k = 0; k < segments.Count; k++)
        {
            var segment = segments[k];
            var bytes = File.ReadAllBytes(segment.Path).AsMemory();
            var position = 0;
            while (position < bytes.Length)
            {
                if (!WalCodec.TryDecode(bytes, position, options.MaxRecordBytes, out var record, out var next))
                {
                    if (k != segments.Count - 1)
                    {
                        throw new WalCorruptionException(segment.Path, position, "bad record in a closed (synced) segment");
                    }
                    var proof = WalCodec.FindSyncProofAfter(bytes, position, options.MaxRecordBytes, out var syncedBytes);
                    if (proof >= 0)
                    {
                        throw new WalCorruptionException(segment.Path, position, $"bad record, but the record at offset {proof} shows the first {syncedBytes} bytes were synced, so this is damage to durable data, not an unsynced tail");
                    }
                    tornAt = position;
                    break;
                }
                switch (record.Kind)
                {
                    case WalRecordKind.NormalEntry:
                    case WalRecordKind.MembershipEntry:
                        if (record.Index <= snapshotIndex) break;
                        var expected = baseIndex + entries.Count + 1;
                        if (record.Index > expected || record.Index <= baseIndex)
                        {
                            entries.Clear();
                            baseIndex = record.Index - 1;
                            gapUntil = Math.Max(gapUntil, baseIndex);
                        }
                        else if (record.Index < expected)
                        {
                            // A later append replaced a conflicting suffix.
                            var keep = (int)(record.Index - baseIndex - 1);
                            entries.RemoveRange(keep, entries.Count - keep);
                        }
                        var type = record.Kind == WalRecordKind.NormalEntry ? EntryType.Normal : EntryType.MembershipChange;
                        entries.Add(new LogEntry(record.Term, record.Index, type, record.Payload.ToArray()));
                        segment.MaxEntryIndex = Math.Max(segment.MaxEntryIndex, record.Index);
                        break;
                    case WalRecordKind.HardState:
                        if (record.Payload.Length != 8) throw new WalCorruptionException(segment.Path, position, "malformed hard state");
                        hardState = new HardState(record.Term, BinaryPrimitives.ReadInt64LittleEndian(record.Payload.Span), record.Index);
                        break;
                    case WalRecordKind.SnapshotMarker:
                        if (record.Payload.Length != 1) throw new WalCorruptionException(segment.Path, position, "malformed snapshot marker");
                        if (record.Payload.Span[0] == 1)
                        {
                            entries.Clear();
                            baseIndex = record.Index;
                            gapUntil = 0;
                            lastResetSegment = segment.Sequence;
                        }
                        else if (record.Index > snapshotIndex)
                        {
                            if (record.Index >= baseIndex)
                            {
                                entries.RemoveRange(0, (int)Math.Min(entries.Count, record.Index - baseIndex));
                                baseIndex = record.Index;
                            }
                        }
                        else
                        {
                            break;
                        }
                        snapshotIndex = record.Index;
                        snapshotTerm = record.Term;
                        break;
                    case WalRecordKind.SyncedThrough:
                        break;
                }
                position = next;
            }
        }
        if (gapUntil > snapshotIndex || baseIndex != snapshotIndex)
        {
            throw new WalCorruptionException(segments[0].Path, 0, $"entries up to {Math.Max(gapUntil, baseIndex)} are missing and no snapshot covers them (snapshot {snapshotIndex})");
        }

        var last = segments[^1];
        var memory = new MemoryRaftStorage();
        if (snapshotIndex > 0)
        {
            var path = SnapshotFile.PathFor(directory, snapshotIndex);
            if (!File.Exists(path)) throw new WalCorruptionException(path, 0, "the log refers to a snapshot file that does not exist");
            var snapshot = SnapshotFile.Read(path);
            if (snapshot.Index != snapshotIndex || snapshot.Term != snapshotTerm)
            {
                throw new WalCorruptionException(path, 0, $"snapshot is ({snapshot.Index},{snapshot.Term}) but the log expects ({snapshotIndex},{snapshotTerm})");
            }
            memory.ApplySnapshot(snapshot);
        }
        memory.Append(entries);
        if (hardState.Commit > memory.LastIndex)
        {
            throw new WalCorruptionException(last.Path, tornAt < 0 ? new FileInfo(last.Path).Length : tornAt, $"commit index {hardState.Commit} is beyond the last recovered entry {memory.LastIndex}: committed entries are lost");
        }
        memory.SetHardState(hardState);

        // Synced even when nothing was cut: after a process crash the recovered tail may sit only in the page cache,
        // and a node counts what it starts with as durable (a leader counts itself toward commit for it).
        using (var stream = new FileStream(last.Path, FileMode.Open, FileAccess.Write, FileShare.None))
        {
            if (tornAt >= 0) stream.SetLength(tornAt);
            stream.Flush(options.FlushToDisk);
        }
        foreach (var (index, path) in SnapshotFile.List(directory).ToList())
        {
            // Orphans: written but their marker never became durable, or superseded.
            if (index != snapshotIndex) File.Delete(path);
        }
        return new WriteAheadLog(directory, held, options, memory, segments, lastResetSegment);
    }

    public RaftInitialState InitialState() => _memory.InitialState();

    public bool TryGetTerm(long index, out long term) => _memory.TryGetTerm(index, out term);

    public IReadOnlyList<LogEntry> Entries(long low, long highExclusive, long maxBytes) => _memory.Entries(low, highExclusive, maxBytes);

    public void Append(IReadOnlyList<LogEntry> entries)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (entries.Count == 0) return;
        foreach (var entry in entries)
        {
            var kind = entry.Type == EntryType.Normal ? WalRecordKind.NormalEntry : WalRecordKind.MembershipEntry;
            WriteRecord(kind, entry.Term, entry.Index, entry.Data.Span);
            _segments[^1].MaxEntryIndex = Math.Max(_segments[^1].MaxEntryIndex, entry.Index);
        }
        _memory.Append(entries);
    }

    public void SetHardState(HardState hardState)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        WriteHardState(hardState);
        _memory.SetHardState(hardState);
    }

    public void ApplySnapshot(Snapshot snapshot)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // The file first: a durable marker must never name a snapshot that is not there. A streamed one already is.
        if (!ReferenceEquals(_received, snapshot)) SnapshotFile.Write(_directory, snapshot, _options.FlushToDisk);
        _received = null;
        WriteRecord(WalRecordKind.SnapshotMarker, snapshot.Term, snapshot.Index, [1]);
        _memory.ApplySnapshot(snapshot);
        _lastResetSegment = _segments[^1].Sequence;
    }

    public void Compact(Snapshot snapshot)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (snapshot.Index <= _memory.Snapshot.Index) return;
        // A prepared file is still there: garbage collection only removes files below the current snapshot.
        if (!ReferenceEquals(Interlocked.Exchange(ref _prepared, null), snapshot)) SnapshotFile.Write(_directory, snapshot, _options.FlushToDisk);
        WriteRecord(WalRecordKind.SnapshotMarker, snapshot.Term, snapshot.Index, [0]);
        _memory.Compact(snapshot);
        // The marker must be durable before the segments it makes obsolete are deleted.
        Sync();
    }

    /// <summary>
    /// Writes the snapshot file (temporary file, flush, rename, directory flush) off the loop. Safe alongside the
    /// loop's calls: it touches only its own file, which no marker names until <see cref="Compact"/>, so a crash
    /// leaves an orphan that <see cref="Open"/> removes, and the previous snapshot in force.
    /// </summary>
    public void PrepareSnapshot(Snapshot snapshot)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        SnapshotFile.Write(_directory, snapshot, _options.FlushToDisk);
        Volatile.Write(ref _prepared, snapshot);
    }

    /// <summary>Streams the leader's snapshot into a temporary file as it arrives (see <see cref="FileSnapshotSink"/>).</summary>
    public IIncomingSnapshotSink BeginIncomingSnapshot(SnapshotMetadata metadata, long totalBytes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // One at a time, under one file name: a newer transfer (another leader, or a restart of it) replaces the last.
        _incoming?.Dispose();
        _incoming = new FileSnapshotSink(_directory, metadata, totalBytes, _options.FlushToDisk, completed => _received = completed);
        return _incoming;
    }

    /// <summary>One flush-to-disk for everything written since the last call; then obsolete files are removed.</summary>
    public void Sync()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _active.Flush(_options.FlushToDisk);
        FlushCount++;
        _syncedBytes = _activeLength;
        _syncMarkDue = true;
        CollectGarbage();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _incoming?.Dispose();
        _active.Dispose();
        _lock.Dispose();
    }

    private void WriteHardState(HardState hardState)
    {
        Span<byte> vote = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(vote, hardState.Vote);
        WriteRecord(WalRecordKind.HardState, hardState.Term, hardState.Commit, vote);
    }

    private void WriteRecord(WalRecordKind kind, long term, long index, ReadOnlySpan<byte> payload)
    {
        if (WalCodec.BodyFixedBytes + payload.Length > _options.MaxRecordBytes)
        {
            throw new ArgumentException($"A {payload.Length}-byte record exceeds MaxRecordBytes {_options.MaxRecordBytes}.");
        }
        var length = WalCodec.EncodedLength(payload.Length);
        var markLength = _syncMarkDue ? WalCodec.EncodedLength(0) : 0;
        // A roll clears the mark: it would name an offset in the segment just closed.
        if (_activeLength > 0 && _activeLength + markLength + length > _options.SegmentBytes) Roll();
        if (_syncMarkDue)
        {
            // First in the batch, so it survives a crash only with the batch, and a hole can only lie after it
            // or in this batch. Costs 25 bytes per batch and no flush.
            _syncMarkDue = false;
            Debug.Assert(_syncedBytes <= _activeLength);
            WriteEncoded(WalRecordKind.SyncedThrough, 0, _syncedBytes, []);
        }
        WriteEncoded(kind, term, index, payload);
    }

    private void WriteEncoded(WalRecordKind kind, long term, long index, ReadOnlySpan<byte> payload)
    {
        var length = WalCodec.EncodedLength(payload.Length);
        if (_buffer.Length < length) _buffer = new byte[Math.Max(length, _buffer.Length * 2)];
        WalCodec.Encode(_buffer, kind, term, index, payload);
        _active.Write(_buffer, 0, length);
        _activeLength += length;
    }

    private void Roll()
    {
        // The closed segment must be durable before a newer one exists: recovery treats any damage in a
        // closed segment as corruption, never as a torn tail.
        _active.Flush(_options.FlushToDisk);
        FlushCount++;
        _active.Dispose();
        var sequence = _segments[^1].Sequence + 1;
        var segment = new Segment(sequence, SegmentPath(_directory, sequence));
        _active = new FileStream(segment.Path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 64 * 1024);
        _activeLength = 0;
        _syncedBytes = 0;
        _syncMarkDue = false;
        _segments.Add(segment);
        if (_options.FlushToDisk) DurableDirectory.Sync(_directory);
        WriteSegmentHeader();
    }

    /// <summary>Each segment restates the snapshot position and hard state, so older segments can be deleted.</summary>
    private void WriteSegmentHeader()
    {
        var snapshot = _memory.Snapshot;
        WriteRecord(WalRecordKind.SnapshotMarker, snapshot.Term, snapshot.Index, [0]);
        if (!_memory.HardState.IsEmpty) WriteHardState(_memory.HardState);
    }

    private void CollectGarbage()
    {
        var snapshotIndex = _memory.Snapshot.Index;
        var deleted = false;
        // Only a prefix may go: replaying a suffix of segments is well defined, a log with a hole is not.
        while (_segments.Count > 1)
        {
            var oldest = _segments[0];
            var obsolete = oldest.Sequence < _lastResetSegment || oldest.MaxEntryIndex <= snapshotIndex;
            if (!obsolete) break;
            File.Delete(oldest.Path);
            _segments.RemoveAt(0);
            deleted = true;
        }
        foreach (var (index, path) in SnapshotFile.List(_directory).ToList())
        {
            if (index < snapshotIndex)
            {
                File.Delete(path);
                deleted = true;
            }
        }
        if (deleted && _options.FlushToDisk) DurableDirectory.Sync(_directory);
        Debug.Assert(_segments.Count >= 1);
    }

    private static string SegmentPath(string directory, long sequence) =>
        Path.Combine(directory, $"{SegmentPrefix}{sequence.ToString("D16", CultureInfo.InvariantCulture)}{SegmentSuffix}");

    private static List<Segment> ListSegments(string directory)
    {
        var result = new List<Segment>();
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, SegmentPrefix + "*" + SegmentSuffix))
        {
            var name = Path.GetFileName(path);
            if (long.TryParse(name.AsSpan(SegmentPrefix.Length, name.Length - SegmentPrefix.Length - SegmentSuffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
            {
                result.Add(new Segment(sequence, path));
            }
        }
        result.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        return result;
    }

    private sealed class Segment
    {
        public Segment(long sequence, string path)
        {
            Sequence = sequence;
            Path = path;
        }

        public long Sequence { get; }

        public string Path { get; }

        /// <summary>Highest entry index written to this segment; it is obsolete once a snapshot covers it.</summary>
        public long MaxEntryIndex { get; set; }
    }
}
