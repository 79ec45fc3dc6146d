namespace RaftHead.Consensus.Driver;

/// <summary>
/// The state captured by <see cref="IStateMachine.CaptureSnapshot"/>. The driver writes it off its loop, one at a
/// time: a capture is not taken while the previous one is still being written.
/// </summary>
public interface IStateMachineSnapshot
{
    /// <summary>
    /// Writes the captured state in the form <see cref="IStateMachine.Restore"/> reads. Called at most once, on a
    /// thread of its own, concurrently with <see cref="IStateMachine.Apply"/>; a capture the node drops unwritten
    /// (it stopped first) is left to the garbage collector. An exception stops the node, as a storage failure does;
    /// the previous snapshot stays in force.
    /// </summary>
    void WriteTo(Stream destination);
}
