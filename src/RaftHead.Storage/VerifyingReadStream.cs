using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage;

/// <summary>
/// A read of a blob that is checked as it passes, in the same pass as the read: it counts what arrives against what
/// was asked for and, for a whole blob, hashes it, and the read that delivers the last byte (or that finds the source
/// ended early, or sending more) throws instead of returning when the bytes are not the blob. So a caller copying to the end never takes a wrong blob for a right one. A part of
/// a blob (offset or limit) can only be counted, not hashed. Used for bytes from a source that is not trusted
/// (another head, a peer) and for the store's own large records, which can rot on disk.
/// </summary>
public sealed class VerifyingReadStream : ForwardReadStream
{
    private readonly Stream _inner;
    private readonly byte[]? _expectedSha;
    private readonly long _expectedBytes;
    private readonly Func<string, Exception> _fail;
    private readonly IncrementalHash? _sha;
    private long _received;
    private bool _verified;

    /// <summary>A read of <paramref name="digest"/> from an untrusted source; a mismatch is a <see cref="BlobVerificationException"/>.</summary>
    /// <param name="inner">The source's bytes; disposed with this stream.</param>
    /// <param name="digest">The blob asked for.</param>
    /// <param name="offset">Where the read starts in the blob.</param>
    /// <param name="limit">Bytes asked for at most (0: to the end).</param>
    /// <param name="source">Where the bytes come from, for the error.</param>
    public VerifyingReadStream(Stream inner, Digest digest, long offset, long limit, string source)
        : this(
            inner,
            IsWhole(digest, offset, limit) ? Convert.FromHexString(digest.Hash) : null,
            ExpectedBytes(digest, offset, limit),
            detail => new BlobVerificationException(digest, source, detail))
    {
    }

    /// <param name="inner">The bytes; disposed with this stream.</param>
    /// <param name="expectedSha256">The SHA-256 the bytes must have, or null to count them only.</param>
    /// <param name="expectedBytes">The bytes the read must deliver.</param>
    /// <param name="fail">The exception for a mismatch, given what was wrong.</param>
    public VerifyingReadStream(Stream inner, byte[]? expectedSha256, long expectedBytes, Func<string, Exception> fail)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(fail);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedBytes);
        if (expectedSha256 is { Length: not 32 })
        {
            throw new ArgumentException("a SHA-256 is 32 bytes", nameof(expectedSha256));
        }

        _inner = inner;
        _expectedSha = expectedSha256;
        _expectedBytes = expectedBytes;
        _fail = fail;
        _sha = expectedSha256 is null ? null : IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    }

    public override long Length => _expectedBytes;

    protected override long BytesRead => _received;

    /// <summary>True when a read from <paramref name="offset"/> of at most <paramref name="limit"/> bytes covers the whole blob.</summary>
    public static bool IsWhole(Digest digest, long offset, long limit) => offset == 0 && (limit == 0 || limit >= digest.SizeBytes);

    /// <summary>The bytes a read from <paramref name="offset"/> of at most <paramref name="limit"/> bytes (0: to the end) delivers.</summary>
    public static long ExpectedBytes(Digest digest, long offset, long limit) =>
        Math.Max(0, limit == 0 ? digest.SizeBytes - offset : Math.Min(limit, digest.SizeBytes - offset));

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.Length == 0)
        {
            return 0;
        }

        var read = _inner.Read(buffer[..Owed(buffer.Length)]);
        Take(buffer[..read]);
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0)
        {
            return 0;
        }

        var read = await _inner.ReadAsync(buffer[..Owed(buffer.Length)], cancellationToken).ConfigureAwait(false);
        Take(buffer.Span[..read]);
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            _sha?.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// One byte more than is still owed is asked for, so a source that sends too much is caught on the read that
    /// would have taken the excess rather than cut silently.
    /// </summary>
    private int Owed(int bufferLength) => (int)Math.Min(bufferLength, _expectedBytes - _received + 1);

    private void Take(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0)
        {
            Verify();
            return;
        }

        _received += data.Length;
        if (_received > _expectedBytes)
        {
            throw _fail($"received more than the {_expectedBytes} bytes asked for");
        }

        _sha?.AppendData(data);
        if (_received == _expectedBytes)
        {
            // Checked at the last byte, not only at the read that returns 0: a reader that stops once it has Length bytes is covered too.
            Verify();
        }
    }

    private void Verify()
    {
        if (_verified)
        {
            return;
        }

        if (_received != _expectedBytes)
        {
            throw _fail($"received {_received} of {_expectedBytes} bytes");
        }

        if (_sha is { } sha)
        {
            Span<byte> actual = stackalloc byte[32];
            sha.GetHashAndReset(actual);
            if (!actual.SequenceEqual(_expectedSha))
            {
                throw _fail($"the bytes hash to {Convert.ToHexStringLower(actual)}");
            }
        }

        _verified = true;
    }
}
