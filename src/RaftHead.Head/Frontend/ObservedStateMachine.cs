using RaftHead.Consensus.Driver;
using RaftHead.Head.Scheduling;

namespace RaftHead.Head.Frontend;

/// <summary>
/// What the driver applies: the pure <see cref="SchedulerStateMachine"/>, followed by a pulse of the
/// <see cref="ChangeFeed"/> once the new state is published, so watchers on other threads wake without the state
/// machine knowing they exist.
/// </summary>
public sealed class ObservedStateMachine : IStateMachine
{
    public ObservedStateMachine(SchedulerStateMachine inner, ChangeFeed changes)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(changes);
        Inner = inner;
        Changes = changes;
    }

    public SchedulerStateMachine Inner { get; }

    public ChangeFeed Changes { get; }

    public byte[] Apply(long index, ReadOnlyMemory<byte> command)
    {
        var result = Inner.Apply(index, command);
        Changes.Pulse();
        return result;
    }

    public IStateMachineSnapshot CaptureSnapshot() => Inner.CaptureSnapshot();

    public void Restore(ReadOnlyMemory<byte> snapshot)
    {
        Inner.Restore(snapshot);
        Changes.Pulse();
    }
}
