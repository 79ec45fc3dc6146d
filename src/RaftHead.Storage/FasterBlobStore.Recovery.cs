using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using RaftHead.Durability;
using RaftHead.Storage.Index;
using RaftHead.Storage.Segments;

namespace RaftHead.Storage;

// Start-up recovery and checkpoints. The argument (README.md): every acknowledged record is durable in
// a segment before it is indexed; a checkpoint records segment lengths below which everything is
// indexed; recovery restores the checkpoint and re-indexes, after verifying them, the records beyond.
public sealed partial class FasterBlobStore
{
    /// <summary>Takes an index checkpoint now (also done on a timer and on dispose).</summary>
    public async ValueTask CheckpointAsync(CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        await CheckpointCoreAsync(cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask CheckpointCoreAsync(CancellationToken cancellationToken)
    {
        await _checkpointLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            CheckpointCookie cookie;
            await _gate.EnterExclusiveAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var lengths = new Dictionary<long, long>();
                foreach (SegmentFile segment in _segments.Values)
                {
                    lengths[segment.Id] = segment.Length;
                }

                var namespaces = new List<CheckpointNamespace>();
                foreach (NamespaceInfo ns in _namespacesById.Values)
                {
                    namespaces.Add(new CheckpointNamespace(ns.Id, ns.Kind, ns.InstanceName));
                }

                cookie = new CheckpointCookie(lengths, Volatile.Read(ref _latestSegmentId), Volatile.Read(ref _sequence), namespaces);
            }
            finally
            {
                _gate.ExitExclusive();
            }

            // Everything indexed before the gate opened again is in this checkpoint: FASTER includes every
            // operation that completed before the checkpoint starts.
            bool ok = await _index.CheckpointAsync(JsonSerializer.SerializeToUtf8Bytes(cookie), _options.IndexLogCompactBytes, cancellationToken).ConfigureAwait(false);
            if (!ok)
            {
                _logger.LogWarning("Index checkpoint of {DataDirectory} could not start", _options.DataDirectory);
            }
        }
        finally
        {
            _checkpointLock.Release();
        }
    }

    private async Task CheckpointLoopAsync(CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromMilliseconds(_options.CheckpointIntervalMs);
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(interval, _time, cancellationToken).ConfigureAwait(false);
            try
            {
                await CheckpointCoreAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Periodic index checkpoint of {DataDirectory} failed", _options.DataDirectory);
            }
        }
    }

    private async ValueTask RecoverAsync(CancellationToken cancellationToken)
    {
        // Before anything is read, cut or deleted: a second store on the same directory would recover, checkpoint
        // and evict under the live one's feet.
        DurableDirectory.Create(_options.DataDirectory);
        _lock = DataDirectoryLock.Acquire(_options.DataDirectory);
        DurableDirectory.Create(_segmentDirectory);
        DurableDirectory.Create(_indexDirectory);
        if (System.IO.Directory.Exists(_tempDirectory))
        {
            System.IO.Directory.Delete(_tempDirectory, recursive: true); // uploads that never committed
        }

        DurableDirectory.Create(_tempDirectory);

        _index = IndexStore.Open(_indexDirectory, _options, _logger, out byte[]? cookieBytes);
        CheckpointCookie? cookie = cookieBytes is { Length: > 0 } ? JsonSerializer.Deserialize<CheckpointCookie>(cookieBytes) : null;
        if (cookie is not null)
        {
            _latestSegmentId = cookie.LatestSegmentId;
            _sequence = cookie.Sequence;
            foreach (CheckpointNamespace ns in cookie.Namespaces)
            {
                _namespacesById[ns.Id] = new NamespaceInfo(ns.Id, ns.Kind, ns.InstanceName);
            }
        }

        var files = new List<(long Id, string Path, bool IsShared)>();
        foreach (string path in System.IO.Directory.EnumerateFiles(_segmentDirectory))
        {
            string name = Path.GetFileName(path);
            bool isShared = name.EndsWith(SegmentFile.SharedExtension, StringComparison.Ordinal);
            bool isBlob = name.EndsWith(SegmentFile.BlobExtension, StringComparison.Ordinal);
            if ((isShared || isBlob) && long.TryParse(Path.GetFileNameWithoutExtension(name), NumberStyles.None, CultureInfo.InvariantCulture, out long id))
            {
                files.Add((id, path, isShared));
            }
        }

        files.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        int scanned = 0;
        foreach ((long id, string path, bool isShared) in files)
        {
            long scanFrom = 0;
            if (cookie is not null && cookie.SegmentLengths.TryGetValue(id, out long checkpointed))
            {
                scanFrom = checkpointed;
            }

            long length = await ScanSegmentAsync(id, path, isShared, scanFrom, cancellationToken).ConfigureAwait(false);
            if (length < 0)
            {
                continue; // a blob segment that failed verification was deleted
            }

            if (length > scanFrom)
            {
                scanned++;
            }

            _latestSegmentId = Math.Max(_latestSegmentId, id);
            var segment = SegmentFile.OpenSealed(path, id, isShared, length);
            AddSegment(segment);
            _diskBytes += length;
        }

        SweepIndex();

        _active = SegmentFile.CreateShared(_segmentDirectory, NextSegmentId());
        AddSegment(_active);
        _logger.LogInformation(
            "Opened blob store {DataDirectory}: {Segments} segments, {Entries} index entries, {Scanned} segment tails re-indexed",
            _options.DataDirectory,
            _segments.Count,
            _index.EntryCount,
            scanned);

        // Start from a checkpoint that covers what was just re-indexed, so the next crash re-scans less.
        await CheckpointCoreAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Re-indexes the verified records of a segment from <paramref name="scanFrom"/>, and cuts a torn tail.
    /// Returns the segment's valid length, or -1 if it was a blob segment that failed and was deleted.
    /// </summary>
    private async ValueTask<long> ScanSegmentAsync(long id, string path, bool isShared, long scanFrom, CancellationToken cancellationToken)
    {
        using SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        long fileLength = RandomAccess.GetLength(file);
        if (scanFrom > fileLength)
        {
            // Shorter than when checkpointed (truncated by hand?): whatever pointed beyond is dangling.
            _logger.LogWarning("Segment {SegmentId} is {Length} bytes, shorter than its checkpointed {Checkpointed}", id, fileLength, scanFrom);
            scanFrom = 0;
        }

        long validEnd = scanFrom;
        long position = scanFrom;
        byte[] headerBytes = new byte[RecordHeader.Size];
        while (position + RecordHeader.Size <= fileLength)
        {
            int read = await ReadFullyAsync(file, headerBytes, position, cancellationToken).ConfigureAwait(false);
            if (read < RecordHeader.Size || !RecordHeader.TryRead(headerBytes, out RecordHeader header))
            {
                break; // torn or garbage header: nothing beyond can be located
            }

            long end = position + RecordHeader.Size + header.DataLength;
            if (end > fileLength)
            {
                break; // torn data
            }

            if (await RecordDataMatchesAsync(file, position + RecordHeader.Size, header, cancellationToken).ConfigureAwait(false))
            {
                IndexRecovered(header, id, position);
                validEnd = end;
            }
            else
            {
                _logger.LogWarning("Record at offset {Offset} of segment {SegmentId} failed verification during recovery; skipped", position, id);
            }

            position = end;
        }

        if (!isShared)
        {
            if (validEnd == 0 && fileLength > 0)
            {
                _logger.LogWarning("Blob segment {SegmentId} failed verification during recovery; deleted", id);
                file.Dispose();
                File.Delete(path);
                return -1;
            }

            return validEnd;
        }

        if (validEnd < fileLength)
        {
            _logger.LogWarning("Cutting torn tail of segment {SegmentId}: {Length} bytes to {ValidLength}", id, fileLength, validEnd);
            RandomAccess.SetLength(file, validEnd);
            RandomAccess.FlushToDisk(file);
        }

        return validEnd;
    }

    private void IndexRecovered(in RecordHeader header, long segmentId, long offset)
    {
        IndexKey key = header.Key;
        _namespacesById.GetOrAdd(key.Namespace, static (id, kind) => new NamespaceInfo(id, kind, null), header.Kind);
        _sequence = Math.Max(_sequence, header.Sequence);
        long tick = segmentId;
        if (_index.TryRead(ref key, out IndexValue existing))
        {
            if (existing.Sequence > header.Sequence)
            {
                return;
            }

            tick = Math.Max(tick, existing.LastAccessTick);
        }

        var value = new IndexValue
        {
            SegmentId = segmentId,
            Offset = offset,
            DataLength = header.DataLength,
            LastAccessTick = tick,
            Sequence = header.Sequence,
        };
        _index.Upsert(ref key, ref value);
    }

    /// <summary>Drops entries whose segment is gone (evicted after the checkpoint) and rebuilds the counters.</summary>
    private void SweepIndex()
    {
        int dropped = 0;
        foreach ((IndexKey key, IndexValue value) in _index.Snapshot())
        {
            IndexKey k = key;
            if (IsLive(value))
            {
                CountAdded(k, value);
            }
            else
            {
                _index.Delete(ref k);
                dropped++;
            }
        }

        if (dropped > 0)
        {
            _logger.LogInformation("Dropped {Dropped} index entries pointing at segments that no longer hold them", dropped);
        }
    }

    private static async ValueTask<bool> RecordDataMatchesAsync(SafeFileHandle file, long start, RecordHeader header, CancellationToken cancellationToken)
    {
        if (header.DataLength <= HashBufferBytes)
        {
            byte[] data = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, header.DataLength));
            try
            {
                int read = await ReadFullyAsync(file, data.AsMemory(0, (int)header.DataLength), start, cancellationToken).ConfigureAwait(false);
                return read == header.DataLength && HashMatches(data.AsSpan(0, read), header);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(data);
            }
        }

        return await FileHashMatchesAsync(file, start, header.DataLength, header, cancellationToken).ConfigureAwait(false);
    }
}
