using System.Buffers;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace RaftHead.Rpc.Server;

/// <summary>Writes length-prefixed messages straight into the response body pipe.</summary>
internal sealed class ServerFrameWriter<T> : IAsyncStreamWriter<T>
    where T : class, IMessage<T>
{
    // Below this a message is serialised into one contiguous span; above it protobuf writes segment by segment,
    // so a large message never needs one large buffer.
    private const int ContiguousLimitBytes = 4096;

    private readonly HttpContext _http;
    private readonly ServerCallContext _call;

    public ServerFrameWriter(HttpContext http, ServerCallContext call)
    {
        _http = http;
        _call = call;
    }

    public int MessagesWritten { get; private set; }

    public ValueTask WriteAsync(T message, CancellationToken cancellationToken = default)
    {
        Write(message);
        var flush = _http.Response.BodyWriter.FlushAsync(cancellationToken.CanBeCanceled ? cancellationToken : _call.CancellationToken);
        if (flush.IsCompletedSuccessfully)
        {
            return ValueTask.CompletedTask;
        }

        return AwaitFlush(flush);
    }

    /// <summary>Buffers one message without flushing; the end of the call flushes it with the trailers.</summary>
    public void Write(T message)
    {
        _call.CancellationToken.ThrowIfCancellationRequested();
        var writer = _http.Response.BodyWriter;
        var size = message.CalculateSize();
        if (size <= ContiguousLimitBytes)
        {
            var span = writer.GetSpan(GrpcProtocol.FrameHeaderBytes + size);
            GrpcProtocol.WriteFrameHeader(span, size);
            MessageWriter<T>.Write(message, span.Slice(GrpcProtocol.FrameHeaderBytes, size));
            writer.Advance(GrpcProtocol.FrameHeaderBytes + size);
        }
        else
        {
            var header = writer.GetSpan(GrpcProtocol.FrameHeaderBytes);
            GrpcProtocol.WriteFrameHeader(header, size);
            writer.Advance(GrpcProtocol.FrameHeaderBytes);
            MessageWriter<T>.Write(message, writer);
        }

        MessagesWritten++;
        _call.HeadersSent = true;
    }

    private static async ValueTask AwaitFlush(ValueTask<System.IO.Pipelines.FlushResult> flush)
    {
        await flush.ConfigureAwait(false);
    }
}
