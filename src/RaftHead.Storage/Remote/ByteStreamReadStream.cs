using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Grpc.Core;
using RaftHead.Protocol;

namespace RaftHead.Storage.Remote;

/// <summary>
/// A ByteStream Read as a <see cref="Stream"/>: the transport only. What arrives is not checked here; a reader that
/// does not trust the sender reads through <see cref="VerifyingReadStream"/> (<see cref="VerifyingBlobStore"/>).
/// With read-ahead, a pump takes the next messages off the call while the reader is busy with the last one (hashing it,
/// writing it to disk), so receiving and using the bytes overlap instead of adding up.
/// </summary>
public sealed class ByteStreamReadStream : ForwardReadStream
{
    private readonly AsyncServerStreamingCall<ReadResponse> _call;
    private readonly long _expectedBytes;
    private ReadOnlyMemory<byte> _pending;
    private long _received;
    private readonly Channel<ReadOnlyMemory<byte>>? _ahead;
    private readonly CancellationTokenSource? _pumpStop;
    private ExceptionDispatchInfo? _pumpError;
    private bool _ended;
    private bool _disposed;

    /// <param name="call">The call, already moved to its first answer.</param>
    /// <param name="hasFirst">Whether there was a first answer.</param>
    /// <param name="expectedBytes">Bytes the read should deliver (the stream's length).</param>
    /// <param name="readAheadMessages">Messages received ahead of the reader at most (0: none, each is received when read).</param>
    public ByteStreamReadStream(AsyncServerStreamingCall<ReadResponse> call, bool hasFirst, long expectedBytes, int readAheadMessages = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(readAheadMessages);
        _call = call;
        _expectedBytes = expectedBytes;
        if (!hasFirst)
        {
            _ended = true;
            return;
        }

        Take(call.ResponseStream.Current);
        if (readAheadMessages > 0 && _received < expectedBytes)
        {
            _ahead = Channel.CreateBounded<ReadOnlyMemory<byte>>(new BoundedChannelOptions(readAheadMessages) { SingleReader = true, SingleWriter = true });
            _pumpStop = new CancellationTokenSource();
            _ = PumpAsync(_ahead.Writer, _pumpStop.Token);
        }
    }

    public override long Length => _expectedBytes;

    /// <summary>
    /// Starts a ByteStream Read of a blob (from <paramref name="offset"/>, at most <paramref name="limit"/> bytes, 0: to
    /// the end) and waits for its first answer, which tells a blob the server holds from one it lacks (null).
    /// </summary>
    public static async Task<ByteStreamReadStream?> OpenAsync(ByteStream.ByteStreamClient client, string instanceName, Digest digest, long offset, long limit, int readAheadMessages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var resource = instanceName.Length == 0 ? $"blobs/{Digests.ToResourceString(digest)}" : $"{instanceName}/blobs/{Digests.ToResourceString(digest)}";
        var call = client.Read(new ReadRequest { ResourceName = resource, ReadOffset = offset, ReadLimit = limit }, cancellationToken: cancellationToken);
        try
        {
            var any = await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false);
            return new ByteStreamReadStream(call, any, VerifyingReadStream.ExpectedBytes(digest, offset, limit), readAheadMessages);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            call.Dispose();
            return null;
        }
        catch
        {
            call.Dispose();
            throw;
        }
    }

    protected override long BytesRead => _received - _pending.Length;

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

            if (_ahead is { } ahead)
            {
                if (await ahead.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (ahead.Reader.TryRead(out var data))
                    {
                        Take(data);
                    }
                }
                else
                {
                    _pumpError?.Throw();
                    _ended = true;
                }
            }
            else if (await _call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
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

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _pumpStop?.Cancel();
            _call.Dispose();
            _pumpStop?.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Take(ReadResponse response) => Take(response.Data.Memory);

    private void Take(ReadOnlyMemory<byte> data)
    {
        _pending = data;
        _received += data.Length;
    }

    /// <summary>
    /// Moves messages from the call into <paramref name="ahead"/> until the call ends; an error is kept for the reader
    /// and raised where the read would have ended. Each message owns its bytes, so holding them past the next one is safe.
    /// </summary>
    private async Task PumpAsync(ChannelWriter<ReadOnlyMemory<byte>> ahead, CancellationToken stop)
    {
        try
        {
            while (await _call.ResponseStream.MoveNext(stop).ConfigureAwait(false))
            {
                await ahead.WriteAsync(_call.ResponseStream.Current.Data.Memory, stop).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            _pumpError = ExceptionDispatchInfo.Capture(e);
        }
        finally
        {
            ahead.TryComplete();
        }
    }
}
