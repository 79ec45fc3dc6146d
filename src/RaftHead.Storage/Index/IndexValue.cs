using System.Runtime.InteropServices;

namespace RaftHead.Storage.Index;

/// <summary>
/// FASTER index value: where a record lives and when it was last used. Blittable, 40 bytes.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IndexValue
{
    /// <summary>Segment file holding the record.</summary>
    public long SegmentId;

    /// <summary>Offset of the record header in that segment.</summary>
    public long Offset;

    /// <summary>Length of the record's data (the blob), excluding the header.</summary>
    public long DataLength;

    /// <summary>
    /// Logical clock at the last access: the newest segment id at that moment. Eviction gives a record
    /// a second chance when this is newer than the record's own segment (it was used after newer data
    /// arrived), so a refresh costs an index write at most once per segment roll-over.
    /// </summary>
    public long LastAccessTick;

    /// <summary>Store-wide write sequence of the record; recovery keeps the highest for a key.</summary>
    public long Sequence;
}
