using System.Buffers;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using RaftHead.Durability;
using RaftHead.Storage.Index;
using RaftHead.Storage.Segments;

namespace RaftHead.Storage;

// Eviction: CLOCK (second chance) over segments, oldest first. See README.md for the policy and the
// survival bound of a refreshed blob.
public sealed partial class FasterBlobStore
{
    private enum EvictionDecision
    {
        Dead,
        Evicted,
        Keep,
    }

    /// <summary>Evicts until the disk total is within <see cref="FasterBlobStoreOptions.MaxBytes"/>; one evictor at a time.</summary>
    private async ValueTask MaybeEvictAsync()
    {
        if (Volatile.Read(ref _diskBytes) <= _options.MaxBytes)
        {
            return;
        }

        if (!await _evictLock.WaitAsync(0).ConfigureAwait(false))
        {
            return; // someone else is evicting; it loops until the bound holds
        }

        try
        {
            int roundsMax = _segments.Count + EvictionExtraRoundsMax;
            for (int round = 0; round < roundsMax && Volatile.Read(ref _diskBytes) > _options.MaxBytes; round++)
            {
                SegmentFile? oldest = OldestEvictable();
                if (oldest is null)
                {
                    break;
                }

                await EvictSegmentAsync(oldest).ConfigureAwait(false);
            }
        }
        finally
        {
            _evictLock.Release();
        }
    }

    private SegmentFile? OldestEvictable()
    {
        lock (_segmentOrderLock)
        {
            foreach (long id in _segmentOrder)
            {
                SegmentFile segment = _segments[id];
                if (ReferenceEquals(segment, _active))
                {
                    continue;
                }

                // A record in it is between append and index; try again at the next commit.
                return segment.HasPendingCommits ? null : segment;
            }
        }

        return null;
    }

    /// <summary>
    /// Drops one segment: each record the index still points at is evicted unless it is pinned or was
    /// used after a newer segment existed (its second chance), in which case it is copied forward to the
    /// active segment (a blob segment is renamed to a fresh id instead). Then the file is deleted.
    /// </summary>
    private async ValueTask EvictSegmentAsync(SegmentFile segment)
    {
        SafeFileHandle file;
        try
        {
            file = File.OpenHandle(segment.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException)
        {
            RemoveSegment(segment);
            return;
        }

        int evicted = 0;
        int kept = 0;
        using (file)
        {
            var keep = new List<(IndexKey Key, long Offset, long DataLength)>();
            byte[] headerBytes = new byte[RecordHeader.Size];
            long position = 0;
            while (position + RecordHeader.Size <= segment.Length)
            {
                int read = await ReadFullyAsync(file, headerBytes, position, CancellationToken.None).ConfigureAwait(false);
                if (read < RecordHeader.Size || !RecordHeader.TryRead(headerBytes, out RecordHeader header))
                {
                    // Unreadable header: nothing after it can be located. Whatever the index held here
                    // is found dangling once the segment is gone.
                    break;
                }

                IndexKey key = header.Key;
                switch (Decide(ref key, segment.Id, position))
                {
                    case EvictionDecision.Keep:
                        keep.Add((key, position, header.DataLength));
                        break;
                    case EvictionDecision.Evicted:
                        evicted++;
                        break;
                }

                position += RecordHeader.Size + header.DataLength;
            }

            foreach ((IndexKey key, long offset, long dataLength) in keep)
            {
                if (segment.IsShared)
                {
                    if (await CopyForwardAsync(file, segment, key, offset, dataLength).ConfigureAwait(false))
                    {
                        kept++;
                    }
                }
                else if (await RenumberAsync(segment, key).ConfigureAwait(false))
                {
                    _logger.LogDebug("Blob segment {SegmentId} kept by second chance or pin", segment.Id);
                    return;
                }
            }
        }

        if (RemoveSegment(segment))
        {
            DeleteQuietly(segment.Path);
        }

        _logger.LogDebug("Evicted segment {SegmentId}: {Evicted} records dropped, {Kept} copied forward", segment.Id, evicted, kept);
    }

    private EvictionDecision Decide(ref IndexKey key, long segmentId, long offset)
    {
        lock (StripeFor(key))
        {
            if (!_index.TryRead(ref key, out IndexValue value) || value.SegmentId != segmentId || value.Offset != offset)
            {
                return EvictionDecision.Dead;
            }

            if (_pins.ContainsKey(key) || value.LastAccessTick > segmentId)
            {
                return EvictionDecision.Keep;
            }

            _index.Delete(ref key);
            CountRemoved(key, value);
            Interlocked.Increment(ref _evictions);
            return EvictionDecision.Evicted;
        }
    }

    /// <summary>Appends a verified copy of a record to the active segment and points the index at it.</summary>
    private async ValueTask<bool> CopyForwardAsync(SafeFileHandle file, SegmentFile from, IndexKey key, long offset, long dataLength)
    {
        int recordBytes = checked(RecordHeader.Size + (int)dataLength);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(recordBytes);
        try
        {
            int read = await ReadFullyAsync(file, buffer.AsMemory(0, recordBytes), offset, CancellationToken.None).ConfigureAwait(false);
            if (read != recordBytes
                || !RecordHeader.TryRead(buffer, out RecordHeader header)
                || !HashMatches(buffer.AsSpan(RecordHeader.Size, (int)dataLength), header))
            {
                var value = new IndexValue { SegmentId = from.Id, Offset = offset, DataLength = dataLength };
                RemoveCorrupt(ref key, value);
                return false;
            }

            await _gate.EnterAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                ReadOnlyMemory<byte> record = buffer.AsMemory(0, recordBytes);
                (SegmentFile to, long newOffset) = await AppendRecordAsync(record[..RecordHeader.Size], record[RecordHeader.Size..], CancellationToken.None).ConfigureAwait(false);
                try
                {
                    await to.FlushToAsync(newOffset + recordBytes, CancellationToken.None).ConfigureAwait(false);
                    return RelocateIfAt(ref key, from.Id, offset, to.Id, newOffset);
                }
                finally
                {
                    to.EndCommit();
                }
            }
            finally
            {
                _gate.Exit();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Gives a kept blob segment a fresh (newest) id by renaming it; no bytes are copied. The rename and
    /// the index and table updates happen under the key's lock, so nobody sees the blob missing.
    /// </summary>
    private async ValueTask<bool> RenumberAsync(SegmentFile segment, IndexKey key)
    {
        await _gate.EnterAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            lock (StripeFor(key))
            {
                if (!_index.TryRead(ref key, out IndexValue value) || value.SegmentId != segment.Id)
                {
                    return false;
                }

                long id = NextSegmentId();
                string path = Path.Combine(_segmentDirectory, SegmentFile.FileName(id, isShared: false));
                File.Move(segment.Path, path);
                var renamed = SegmentFile.OpenSealed(path, id, isShared: false, segment.Length);
                RemoveSegment(segment);
                AddSegment(renamed);
                Interlocked.Add(ref _diskBytes, renamed.Length);
                value.SegmentId = id;
                _index.Upsert(ref key, ref value);
            }

            DurableDirectory.Sync(_segmentDirectory);
            return true;
        }
        finally
        {
            _gate.Exit();
        }
    }
}
