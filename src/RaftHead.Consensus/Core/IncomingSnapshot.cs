using System.Diagnostics;

namespace RaftHead.Consensus.Core;

/// <summary>
/// A snapshot being received chunk by chunk. Tied to one sender and term: chunks of two leaders' snapshots at
/// the same index need not be byte-identical, so they must never be mixed. The buffer grows with the bytes
/// actually received, never to the size a message merely claims.
/// </summary>
internal sealed class IncomingSnapshot
{
    private byte[] _data = [];

    public IncomingSnapshot(SnapshotMetadata metadata, long from, long term, long totalBytes)
    {
        if (totalBytes < 0 || totalBytes > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(totalBytes));
        Metadata = metadata;
        From = from;
        Term = term;
        TotalBytes = totalBytes;
    }

    public SnapshotMetadata Metadata { get; }

    public long From { get; }

    public long Term { get; }

    /// <summary>The size the sender declared; bounded by the caller before this object exists.</summary>
    public long TotalBytes { get; }

    public long ReceivedBytes { get; private set; }

    public bool Complete => ReceivedBytes == TotalBytes;

    public ReadOnlyMemory<byte> Data => _data.AsMemory(0, (int)ReceivedBytes);

    public bool Matches(Message m) =>
        m.From == From && m.Term == Term && Metadata.SamePosition(m.SnapshotMetadata!) && m.SnapshotTotalBytes == TotalBytes;

    /// <summary>False, changing nothing, for a chunk that would grow the snapshot past its declared size.</summary>
    public bool Append(ReadOnlySpan<byte> chunk)
    {
        if (chunk.Length > TotalBytes - ReceivedBytes) return false;
        var needed = (int)(ReceivedBytes + chunk.Length);
        if (needed > _data.Length)
        {
            // Doubling keeps copying linear; the cap keeps the last growth from overshooting the declared size.
            var grown = (int)Math.Min(TotalBytes, Math.Max(needed, 2L * _data.Length));
            Array.Resize(ref _data, grown);
        }
        chunk.CopyTo(_data.AsSpan((int)ReceivedBytes));
        ReceivedBytes += chunk.Length;
        Debug.Assert(ReceivedBytes <= TotalBytes && ReceivedBytes <= _data.Length);
        return true;
    }
}
