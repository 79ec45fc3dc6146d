using Google.Protobuf;
using RaftHead.Consensus.Driver;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// The head's replicated scheduler: queues, leases, workers, retries and the action cache, changed only by committed
/// <see cref="SchedulerCommand"/>s. Pure and deterministic: no clock, random source, thread or I/O; every name and time
/// comes from the command or the log index, so every replica applying the same log holds the same state, byte for
/// byte (<see cref="Snapshot"/>).
/// <para>
/// The driver's loop is the only writer. Readers on other threads take <see cref="Current"/>, an immutable
/// <see cref="SchedulerState"/>, and watch its <see cref="SchedulerState.Version"/> (one counter for every change, and
/// each operation's <see cref="OperationState.ChangedVersion"/>) rather than holding a waiter per operation here.
/// </para>
/// </summary>
public sealed class SchedulerStateMachine : IStateMachine
{
    /// <summary>The command record format this replica writes; it applies every version from <see cref="OldestCommandVersion"/> on.</summary>
    /// <remarks>Version 2 added <see cref="CompleteBatch"/>; version 3 the action graph commands.</remarks>
    public const uint CommandVersion = 4;

    /// <summary>The oldest record format still applied, so a log written before an upgrade replays the same.</summary>
    public const uint OldestCommandVersion = 1;

    private readonly SchedulerLimits _limits;
    private SchedulerState _state = SchedulerState.Empty;

    public SchedulerStateMachine(SchedulerLimits? limits = null)
    {
        _limits = limits ?? new SchedulerLimits();
        _limits.Validate();
    }

    public SchedulerLimits Limits => _limits;

    /// <summary>The state as of the last apply: a consistent point in time, safe to read from any thread.</summary>
    public SchedulerState Current => Volatile.Read(ref _state);

    public byte[] Apply(long index, ReadOnlyMemory<byte> command)
    {
        SchedulerCommand parsed;
        try
        {
            parsed = SchedulerCommand.Parser.ParseFrom(command.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            // Deterministic too: every replica fails to parse the same bytes the same way.
            var (state, result) = CommandApplier.Undecodable(Current, index, e.Message);
            Publish(index, state);
            return result.ToByteArray();
        }

        return Apply(index, parsed).ToByteArray();
    }

    /// <summary>Applies an already decoded command (the single-node path and tests); the same transition as the bytes form.</summary>
    public SchedulerResult Apply(long index, SchedulerCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var (state, result) = CommandApplier.Apply(Current, _limits, index, command);
        Publish(index, state);
        return result;
    }

    /// <summary>The whole state as snapshot bytes, as of the last apply (what <see cref="CaptureSnapshot"/> writes).</summary>
    public byte[] Snapshot() => SchedulerSnapshotCodec.Encode(Current);

    /// <summary>The state is immutable, so a capture is the current reference; encoding waits for the writer's thread.</summary>
    public IStateMachineSnapshot CaptureSnapshot() => new Capture(Current);

    public void Restore(ReadOnlyMemory<byte> snapshot) => Volatile.Write(ref _state, SchedulerSnapshotCodec.Decode(snapshot.Span, _limits));

    private sealed class Capture(SchedulerState state) : IStateMachineSnapshot
    {
        public void WriteTo(Stream destination) => destination.Write(SchedulerSnapshotCodec.Encode(state));
    }

    private void Publish(long index, SchedulerState state)
    {
        System.Diagnostics.Debug.Assert(index > _state.AppliedIndex, "the log applies each index once, in order");
        Volatile.Write(ref _state, state);
    }
}
