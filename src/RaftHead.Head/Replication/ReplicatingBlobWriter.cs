using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;

namespace RaftHead.Head.Replication;

/// <summary>
/// A streamed write through <see cref="ReplicatedBlobStore"/>: bytes go to the local writer only; the commit makes the
/// blob durable here, then copies it to peers from the local store. The commit returns only once enough heads hold it.
/// </summary>
internal sealed class ReplicatingBlobWriter : IBlobWriter
{
    private readonly ReplicatedBlobStore _owner;
    private readonly IBlobWriter _local;
    private readonly string _instanceName;
    private readonly Digest _digest;
    private bool _replicated;

    public ReplicatingBlobWriter(ReplicatedBlobStore owner, IBlobWriter local, string instanceName, Digest digest)
    {
        _owner = owner;
        _local = local;
        _instanceName = instanceName;
        _digest = digest;
    }

    public long BytesWritten => _local.BytesWritten;

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => _local.WriteAsync(data, cancellationToken);

    public async ValueTask CommitAsync(CancellationToken cancellationToken)
    {
        if (_replicated)
        {
            return;
        }

        // Pinned before the local commit so the copies read a blob eviction cannot take while they run.
        using var pin = _owner.Pin(_instanceName, _digest);
        await _local.CommitAsync(cancellationToken).ConfigureAwait(false);
        await _owner.ReplicateFromLocalAsync(_instanceName, _digest, cancellationToken).ConfigureAwait(false);
        _replicated = true;
    }

    public ValueTask DisposeAsync() => _local.DisposeAsync();
}
