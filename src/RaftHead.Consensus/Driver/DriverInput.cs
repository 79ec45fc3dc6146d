using RaftHead.Consensus.Core;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Driver;

/// <summary>
/// Everything but ticks reaches the driver loop as one of these: peer messages, membership changes and transfers
/// through the peer queue, proposals and reads through the request queue. Ticks are a counter.
/// </summary>
internal abstract class DriverInput
{
    public abstract void Fail(Exception error);
}

internal sealed class PeerMessageInput(Message message) : DriverInput
{
    public Message Message { get; } = message;

    public override void Fail(Exception error)
    {
    }
}

internal sealed class ProposeInput(ReadOnlyMemory<byte> command) : DriverInput
{
    public ReadOnlyMemory<byte> Command { get; } = command;

    public TaskCompletionSource<byte[]> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Fail(Exception error) => Completion.TrySetException(error);
}

internal sealed class MembershipInput(MembershipChange change) : DriverInput
{
    public MembershipChange Change { get; } = change;

    public TaskCompletionSource<ClusterMembership> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Fail(Exception error) => Completion.TrySetException(error);
}

internal sealed class ReadInput(CancellationToken cancellationToken) : DriverInput
{
    /// <summary>Checked when the read is retried: a read nobody waits for is dropped.</summary>
    public CancellationToken CancellationToken { get; } = cancellationToken;

    public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Fail(Exception error) => Completion.TrySetException(error);
}

internal sealed class TransferInput(long target) : DriverInput
{
    public long Target { get; } = target;

    public TaskCompletionSource<bool> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Fail(Exception error) => Completion.TrySetException(error);
}
