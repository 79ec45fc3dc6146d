using Google.ByteStream;
using Grpc.Core;

namespace RaftHead.Storage.Remote;

/// <summary>
/// A ByteStream Read as a <see cref="Stream"/>: the transport only. What arrives is not checked here; a reader that
/// does not trust the sender reads through <see cref="VerifyingReadStream"/> (<see cref="VerifyingBlobStore"/>).
/// </summary>
public sealed class ByteStreamReadStream : Stream
{
    private readonly AsyncServerStreamingCall<ReadResponse> _call;
    private readonly long _expectedBytes;
    private ReadOnlyMemory<byte> _pending;
    private long _received;
    private bool _ended;

    /// <param name="call">The call, already moved to its first answer.</param>
    /// <param name="hasFirst">Whether there was a first answer.</param>
    /// <param name="expectedBytes">Bytes the read should deliver (the stream's length).</param>
    public ByteStreamReadStream(AsyncServerStreamingCall<ReadResponse> call, bool hasFirst, long expectedBytes)
    {
        _call = call;
        _expectedBytes = expectedBytes;
        if (hasFirst)
        {
            Take(call.ResponseStream.Current);
        }
        else
        {
            _ended = true;
        }
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _expectedBytes;

    public override long Position
    {
        get => _received - _pending.Length;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("read this stream asynchronously");

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0)
        {
            return 0;
        }

        while (_pending.Length == 0)
        {
            if (_ended)
            {
                return 0;
            }

            if (await _call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                Take(_call.ResponseStream.Current);
            }
            else
            {
                _ended = true;
            }
        }

        var n = Math.Min(buffer.Length, _pending.Length);
        _pending[..n].CopyTo(buffer);
        _pending = _pending[n..];
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _call.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Take(ReadResponse response)
    {
        _pending = response.Data.Memory;
        _received += _pending.Length;
    }
}
