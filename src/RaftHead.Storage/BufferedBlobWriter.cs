using System.Buffers;
using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage;

/// <summary>
/// A streamed write of a small blob: gathered in a pooled buffer, then stored whole with
/// <see cref="IBlobStore.PutAsync"/> (the CAS for blobs up to <see cref="FasterBlobStoreOptions.BufferedBlobMaxBytes"/>;
/// a remote store, so that a whole put can move to another head).
/// </summary>
public sealed class BufferedBlobWriter : IBlobWriter
{
    private readonly IBlobStore _store;
    private readonly string _instanceName;
    private readonly Digest _digest;
    private byte[]? _buffer;
    private int _written;
    private bool _committed;

    public BufferedBlobWriter(IBlobStore store, string instanceName, Digest digest)
    {
        _store = store;
        _instanceName = instanceName;
        _digest = digest;
        _buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, digest.SizeBytes));
    }

    public long BytesWritten => _written;

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        byte[] buffer = _buffer ?? throw new ObjectDisposedException(nameof(BufferedBlobWriter));
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
        byte[] buffer = _buffer ?? throw new ObjectDisposedException(nameof(BufferedBlobWriter));
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
