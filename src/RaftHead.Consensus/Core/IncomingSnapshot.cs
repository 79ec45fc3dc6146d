using RaftHead.Consensus.Log;

namespace RaftHead.Consensus.Core;

/// <summary>
/// A snapshot being received chunk by chunk. Tied to one sender and term: chunks of two leaders' snapshots at
/// the same index need not be byte-identical, so they must never be mixed. The bytes go to a sink of the storage's
/// (<see cref="IRaftStorage.BeginIncomingSnapshot"/>): in memory, growing with the bytes actually received, or
/// streamed to a file; never a buffer of the size a message merely claims.
/// </summary>
internal sealed class IncomingSnapshot
{
    private readonly IIncomingSnapshotSink _sink;

    public IncomingSnapshot(SnapshotMetadata metadata, long from, long term, long totalBytes, IRaftStorage storage)
    {
        if (totalBytes < 0 || totalBytes > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(totalBytes));
        Metadata = metadata;
        From = from;
        Term = term;
        TotalBytes = totalBytes;
        _sink = storage.BeginIncomingSnapshot(metadata, totalBytes);
    }

    public SnapshotMetadata Metadata { get; }

    public long From { get; }

    public long Term { get; }

    /// <summary>The size the sender declared; bounded by the caller before this object exists.</summary>
    public long TotalBytes { get; }

    public long ReceivedBytes { get; private set; }

    public bool Complete => ReceivedBytes == TotalBytes;

    public bool Matches(Message m) =>
        m.From == From && m.Term == Term && Metadata.SamePosition(m.SnapshotMetadata!) && m.SnapshotTotalBytes == TotalBytes;

    /// <summary>False, changing nothing, for a chunk that would grow the snapshot past its declared size.</summary>
    public bool Append(ReadOnlySpan<byte> chunk)
    {
        if (chunk.Length > TotalBytes - ReceivedBytes) return false;
        _sink.Append(chunk);
        ReceivedBytes += chunk.Length;
        return true;
    }

    /// <summary>The received snapshot, once <see cref="Complete"/>.</summary>
    public Snapshot ToSnapshot()
    {
        if (!Complete) throw new InvalidOperationException($"{ReceivedBytes} of {TotalBytes} bytes received.");
        return _sink.Complete();
    }
}
