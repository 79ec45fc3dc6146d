using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Google.Protobuf;

namespace RaftHead.Rpc.Server;

/// <summary>Reads length-prefixed messages from a request body pipe, enforcing the receive limit before buffering.</summary>
internal sealed class ServerFrameReader<T> : IAsyncStreamReader<T>
    where T : class, IMessage<T>
{
    private readonly PipeReader _reader;
    private readonly MessageParser<T> _parser;
    private readonly int _maxMessageBytes;
    private readonly CancellationToken _callToken;
    private T? _current;

    public ServerFrameReader(PipeReader reader, MessageParser<T> parser, int maxMessageBytes, CancellationToken callToken)
    {
        _reader = reader;
        _parser = parser;
        _maxMessageBytes = maxMessageBytes;
        _callToken = callToken;
    }

    public T Current => _current ?? throw new InvalidOperationException("MoveNext has not returned true.");

    public async ValueTask<bool> MoveNext(CancellationToken cancellationToken = default)
    {
        var token = cancellationToken.CanBeCanceled ? cancellationToken : _callToken;
        while (true)
        {
            var result = await _reader.ReadAsync(token).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (TryParse(ref buffer, out var message))
            {
                _reader.AdvanceTo(buffer.Start);
                _current = message;
                return true;
            }

            if (result.IsCompleted)
            {
                var leftover = buffer.Length;
                _reader.AdvanceTo(buffer.End);
                if (leftover != 0)
                {
                    throw new RpcException(StatusCode.Internal, $"The request stream ended inside a message ({leftover} bytes of a frame).");
                }

                _current = null;
                return false;
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException(token);
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private bool TryParse(ref ReadOnlySequence<byte> buffer, out T? message)
    {
        message = null;
        if (buffer.Length < GrpcProtocol.FrameHeaderBytes)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[GrpcProtocol.FrameHeaderBytes];
        buffer.Slice(0, GrpcProtocol.FrameHeaderBytes).CopyTo(header);
        if (header[0] != 0)
        {
            // Only identity encoding is accepted (requests naming another grpc-encoding are refused up front),
            // so a set compressed flag is a protocol violation.
            throw new RpcException(StatusCode.Internal, "A message arrived with the compressed flag set but the call uses identity encoding.");
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (length > (uint)_maxMessageBytes)
        {
            throw new RpcException(
                StatusCode.ResourceExhausted,
                $"Received message larger than max ({length} vs. {_maxMessageBytes} bytes).");
        }

        if (buffer.Length < GrpcProtocol.FrameHeaderBytes + length)
        {
            return false;
        }

        var payload = buffer.Slice(GrpcProtocol.FrameHeaderBytes, length);
        try
        {
            message = MessageWriter<T>.NeedsArray ? _parser.ParseFrom(payload.ToArray()) : _parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new RpcException(StatusCode.InvalidArgument, $"The request message could not be parsed: {e.Message}");
        }

        buffer = buffer.Slice(payload.End);
        return true;
    }
}
