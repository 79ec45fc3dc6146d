using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Grpc.Core;

namespace RaftHead.Storage.Remote;

/// <summary>
/// A ByteStream Read as a <see cref="Stream"/>. Counts what arrives against what was asked for and, for a whole blob,
/// hashes it: the read that reaches the end throws <see cref="RemoteBlobCorruptException"/> instead of returning 0 when
/// the bytes are not the blob, so a caller copying to the end never takes a wrong blob for a right one.
/// </summary>
internal sealed class ByteStreamReadStream : Stream
{
    private readonly AsyncServerStreamingCall<ReadResponse> _call;
    private readonly Digest _digest;
    private readonly long _expectedBytes;
    private readonly string _endpoint;
    private readonly IncrementalHash? _sha;
    private ReadOnlyMemory<byte> _pending;
    private long _received;
    private bool _ended;
    private bool _verified;

    /// <param name="call">The call, already moved to its first answer.</param>
    /// <param name="hasFirst">Whether there was a first answer.</param>
    /// <param name="digest">The blob.</param>
    /// <param name="whole">The whole blob is read, so its hash can be checked.</param>
    /// <param name="expectedBytes">Bytes the read must deliver.</param>
    /// <param name="endpoint">The head, for messages.</param>
    public ByteStreamReadStream(AsyncServerStreamingCall<ReadResponse> call, bool hasFirst, Digest digest, bool whole, long expectedBytes, string endpoint)
    {
        _call = call;
        _digest = digest;
        _expectedBytes = expectedBytes;
        _endpoint = endpoint;
        _sha = whole ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
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
                Verify();
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
            _sha?.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Take(ReadResponse response)
    {
        var data = response.Data.Memory;
        _received += data.Length;
        if (_received > _expectedBytes)
        {
            throw new RemoteBlobCorruptException(_digest, _endpoint, $"received more than the {_expectedBytes} bytes asked for");
        }

        _sha?.AppendData(data.Span);
        _pending = data;
    }

    private void Verify()
    {
        if (_verified)
        {
            return;
        }

        if (_received != _expectedBytes)
        {
            throw new RemoteBlobCorruptException(_digest, _endpoint, $"received {_received} of {_expectedBytes} bytes");
        }

        if (_sha is { } sha)
        {
            var hash = Convert.ToHexStringLower(sha.GetHashAndReset());
            if (!string.Equals(hash, _digest.Hash, StringComparison.Ordinal))
            {
                throw new RemoteBlobCorruptException(_digest, _endpoint, $"the bytes hash to {hash}");
            }
        }

        _verified = true;
    }
}
