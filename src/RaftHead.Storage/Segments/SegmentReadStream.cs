using Microsoft.Win32.SafeHandles;

namespace RaftHead.Storage.Segments;

/// <summary>
/// A forward-only read of a byte range of a segment file. It owns its file handle, so the segment may
/// be evicted or renamed meanwhile (POSIX keeps an unlinked file readable through an open handle).
/// </summary>
internal sealed class SegmentReadStream(SafeFileHandle file, long start, long length) : ForwardReadStream
{
    private long _position;

    public override long Length => length;

    protected override long BytesRead => _position;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int want = (int)Math.Min(buffer.Length, length - _position);
        if (want <= 0)
        {
            return 0;
        }

        int read = RandomAccess.Read(file, buffer[..want], start + _position);
        _position += read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int want = (int)Math.Min(buffer.Length, length - _position);
        if (want <= 0)
        {
            return 0;
        }

        int read = await RandomAccess.ReadAsync(file, buffer[..want], start + _position, cancellationToken).ConfigureAwait(false);
        _position += read;
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            file.Dispose();
        }

        base.Dispose(disposing);
    }
}
