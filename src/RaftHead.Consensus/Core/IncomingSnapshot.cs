using System.Diagnostics;

namespace RaftHead.Consensus.Core;

/// <summary>
/// A snapshot being received chunk by chunk. Tied to one sender and term: chunks of two leaders' snapshots at
/// the same index need not be byte-identical, so they must never be mixed.
/// </summary>
internal sealed class IncomingSnapshot
{
    private readonly byte[] _data;

    public IncomingSnapshot(SnapshotMetadata metadata, long from, long term, long totalBytes)
    {
        if (totalBytes < 0 || totalBytes > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(totalBytes));
        Metadata = metadata;
        From = from;
        Term = term;
        _data = new byte[totalBytes];
    }

    public SnapshotMetadata Metadata { get; }

    public long From { get; }

    public long Term { get; }

    public long ReceivedBytes { get; private set; }

    public bool Complete => ReceivedBytes == _data.Length;

    public ReadOnlyMemory<byte> Data => _data;

    public bool Matches(Message m) =>
        m.From == From && m.Term == Term && Metadata.SamePosition(m.SnapshotMetadata!) && m.SnapshotTotalBytes == _data.Length;

    public void Append(ReadOnlySpan<byte> chunk)
    {
        if (ReceivedBytes + chunk.Length > _data.Length) return; // a malformed chunk: ignore rather than overflow
        chunk.CopyTo(_data.AsSpan((int)ReceivedBytes));
        ReceivedBytes += chunk.Length;
        Debug.Assert(ReceivedBytes <= _data.Length);
    }
}
