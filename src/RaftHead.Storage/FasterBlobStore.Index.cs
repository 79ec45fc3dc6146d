using RaftHead.Storage.Index;
using RaftHead.Storage.Segments;

namespace RaftHead.Storage;

// Index operations. Invariant: every entry in the FASTER index is counted in its namespace's
// counters exactly once, and every change to an entry happens under the key's stripe lock.
public sealed partial class FasterBlobStore
{
    private Lock StripeFor(in IndexKey key) => _stripes[(int)((ulong)key.Hash64() % StripeCount)];

    /// <summary>
    /// True if the key is present at a live location; refreshes its last access. An entry whose segment
    /// is gone (possible only right after recovery) is removed here.
    /// </summary>
    private bool TouchIfPresent(ref IndexKey key, out IndexValue value)
    {
        lock (StripeFor(key))
        {
            if (!_index.TryRead(ref key, out value))
            {
                return false;
            }

            if (!IsLive(value))
            {
                _index.Delete(ref key);
                CountRemoved(key, value);
                return false;
            }

            long tick = Volatile.Read(ref _latestSegmentId);
            if (value.LastAccessTick < tick)
            {
                value.LastAccessTick = tick;
                _index.Upsert(ref key, ref value);
            }

            return true;
        }
    }

    /// <summary>
    /// Publishes a durable record. For an action result the higher write sequence wins, so the index
    /// agrees with what recovery would rebuild. <paramref name="newSegment"/> (a blob segment just moved
    /// into place) joins the segment table under the same lock, so no one sees the one without the other.
    /// </summary>
    private void InsertIndex(ref IndexKey key, IndexValue value, SegmentFile? newSegment)
    {
        lock (StripeFor(key))
        {
            if (newSegment is not null)
            {
                AddSegment(newSegment);
            }

            if (_index.TryRead(ref key, out IndexValue old))
            {
                if (old.Sequence > value.Sequence && IsLive(old))
                {
                    return;
                }

                CountRemoved(key, old);
            }

            _index.Upsert(ref key, ref value);
            CountAdded(key, value);
        }
    }

    /// <summary>Removes the entry if it still points at (segment, offset); true if it did.</summary>
    private bool RemoveIfAt(ref IndexKey key, long segmentId, long offset)
    {
        lock (StripeFor(key))
        {
            if (!_index.TryRead(ref key, out IndexValue value) || value.SegmentId != segmentId || value.Offset != offset)
            {
                return false;
            }

            _index.Delete(ref key);
            CountRemoved(key, value);
            return true;
        }
    }

    /// <summary>Moves the entry to a new location if it still points at the old one (last access is kept).</summary>
    private bool RelocateIfAt(ref IndexKey key, long segmentId, long offset, long newSegmentId, long newOffset)
    {
        lock (StripeFor(key))
        {
            if (!_index.TryRead(ref key, out IndexValue value) || value.SegmentId != segmentId || value.Offset != offset)
            {
                return false;
            }

            value.SegmentId = newSegmentId;
            value.Offset = newOffset;
            _index.Upsert(ref key, ref value);
            return true;
        }
    }

    private bool IsLive(in IndexValue value) =>
        _segments.TryGetValue(value.SegmentId, out SegmentFile? segment)
        && value.Offset >= 0
        && value.Offset + RecordHeader.Size + value.DataLength <= segment.Length;

    private void CountAdded(in IndexKey key, in IndexValue value) => NamespaceOf(key).Add(1, value.DataLength);

    private void CountRemoved(in IndexKey key, in IndexValue value) => NamespaceOf(key).Add(-1, -value.DataLength);

    private NamespaceInfo NamespaceOf(in IndexKey key) =>
        _namespacesById.GetOrAdd(key.Namespace, static id => new NamespaceInfo(id, RecordKind.Cas, null));

    private void AddSegment(SegmentFile segment)
    {
        lock (_segmentOrderLock)
        {
            _segments[segment.Id] = segment;
            _segmentOrder.Add(segment.Id);
        }
    }

    /// <summary>Takes a segment out of the table and its bytes out of the disk total; false if already gone.</summary>
    private bool RemoveSegment(SegmentFile segment)
    {
        lock (_segmentOrderLock)
        {
            if (!_segments.TryRemove(new KeyValuePair<long, SegmentFile>(segment.Id, segment)))
            {
                return false;
            }

            _segmentOrder.Remove(segment.Id);
        }

        Interlocked.Add(ref _diskBytes, -segment.Length);
        return true;
    }

    private long NextSegmentId() => Interlocked.Increment(ref _latestSegmentId);
}
