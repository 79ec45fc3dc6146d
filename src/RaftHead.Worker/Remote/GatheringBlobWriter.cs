using System.Buffers;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;

namespace RaftHead.Worker.Remote;

/// <summary>A small blob's streamed write: gathered in a pooled buffer, then put whole (so it can move to another head).</summary>
internal sealed class GatheringBlobWriter : IBlobWriter
{
    private readonly IBlobStore _store;
    private readonly string _instanceName;
    private readonly Digest _digest;
    private byte[]? _buffer;
    private int _written;
    private bool _committed;

    public GatheringBlobWriter(IBlobStore store, string instanceName, Digest digest)
    {
        _store = store;
        _instanceName = instanceName;
        _digest = digest;
        _buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, digest.SizeBytes));
    }

    public long BytesWritten => _written;

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var buffer = _buffer ?? throw new ObjectDisposedException(nameof(GatheringBlobWriter));
        if (_committed)
        {
            throw new InvalidOperationException("blob already committed");
        }

        if (_written + (long)data.Length > _digest.SizeBytes)
        {
            throw new BlobDigestMismatchException(_digest, "(more bytes than the digest's size)", _written + (long)data.Length);
        }

        data.Span.CopyTo(buffer.AsSpan(_written));
        _written += data.Length;
        return ValueTask.CompletedTask;
    }

    public async ValueTask CommitAsync(CancellationToken cancellationToken)
    {
        var buffer = _buffer ?? throw new ObjectDisposedException(nameof(GatheringBlobWriter));
        if (_committed)
        {
            return;
        }

        await _store.PutAsync(_instanceName, _digest, buffer.AsMemory(0, _written), cancellationToken).ConfigureAwait(false);
        _committed = true;
    }

    public ValueTask DisposeAsync()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return ValueTask.CompletedTask;
    }
}
