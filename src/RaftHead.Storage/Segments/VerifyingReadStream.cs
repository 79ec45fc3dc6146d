using System.Security.Cryptography;

namespace RaftHead.Storage.Segments;

/// <summary>
/// A whole-blob read that hashes what passes through it and, at the last byte, fails instead of ending when the
/// hash is not the record's: one pass over the data instead of a check pass before the read pass.
/// </summary>
internal sealed class VerifyingReadStream : Stream
{
    private readonly Stream _inner;
    private readonly RecordHeader _header;
    private readonly Func<Exception> _onMismatch;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _remaining;
    private bool _verified;

    public VerifyingReadStream(Stream inner, RecordHeader header, Func<Exception> onMismatch)
    {
        _inner = inner;
        _header = header;
        _onMismatch = onMismatch;
        _remaining = inner.Length;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _inner.Length;

    public override long Position
    {
        get => _inner.Length - _remaining;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read = _inner.Read(buffer);
        Account(buffer[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Account(buffer.Span[..read]);
        return read;
    }

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
            _hash.Dispose();
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Account(ReadOnlySpan<byte> data)
    {
        if (_verified)
        {
            return;
        }

        _hash.AppendData(data);
        _remaining -= data.Length;
        if (_remaining > 0 && data.Length > 0)
        {
            return;
        }

        _verified = true;
        Span<byte> sha = stackalloc byte[32];
        _hash.GetHashAndReset(sha);
        if (_remaining != 0 || !_header.DataShaEquals(sha))
        {
            throw _onMismatch();
        }
    }
}
