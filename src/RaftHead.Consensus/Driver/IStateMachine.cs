namespace RaftHead.Consensus.Driver;

/// <summary>
/// The replicated application. The driver calls it only from its loop, one call at a time, in log order;
/// it must be deterministic: the same commands in the same order give the same state and results on every
/// replica. It must not throw for a bad command (return an error result instead): an exception is a bug
/// that stops the node, since skipping a committed command would make replicas diverge.
/// </summary>
public interface IStateMachine
{
    /// <summary>Applies the committed command at <paramref name="index"/>; the result completes the proposer's task.</summary>
    byte[] Apply(long index, ReadOnlyMemory<byte> command);

    /// <summary>
    /// A point-in-time capture of the whole state as of the last applied index, used to compact the log and catch
    /// up slow replicas. Called on the loop, so it must be cheap (a reference to immutable or copy-on-write state,
    /// not a serialization): proposals, acknowledgements and heartbeats wait while it runs. The capture is written
    /// later on another thread while <see cref="Apply"/> goes on, so later commands (or a <see cref="Restore"/>) must not
    /// show through it.
    /// </summary>
    IStateMachineSnapshot CaptureSnapshot();

    /// <summary>Replaces the whole state with a snapshot written by an <see cref="IStateMachineSnapshot"/> (here or on another replica).</summary>
    void Restore(ReadOnlyMemory<byte> snapshot);
}
