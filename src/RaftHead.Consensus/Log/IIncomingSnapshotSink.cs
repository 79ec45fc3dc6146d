using RaftHead.Consensus.Core;

namespace RaftHead.Consensus.Log;

/// <summary>
/// Where the bytes of a snapshot sent by the leader go while it arrives (<see cref="IRaftStorage.BeginIncomingSnapshot"/>),
/// so the core need not hold a half-received snapshot. The core appends each chunk in order, never past the size it
/// was begun with, and completes it once every byte arrived; an unfinished sink is simply dropped (the storage begins
/// the next one over it). Contents need not be durable before <see cref="Complete"/>: a crash restarts the transfer.
/// </summary>
public interface IIncomingSnapshotSink
{
    void Append(ReadOnlySpan<byte> chunk);

    /// <summary>
    /// The whole snapshot, to be installed through the core's Ready; the storage's <see cref="IRaftStorage.ApplySnapshot"/>
    /// then records this very object without writing its data again.
    /// </summary>
    Snapshot Complete();
}
