using System.Buffers;
using System.Net;
using Google.Protobuf;

namespace RaftHead.Rpc.Client;

/// <summary>A request body of exactly one message, serialised once into a pooled buffer.</summary>
internal sealed class FrameContent<T> : HttpContent
    where T : IMessage
{
    private byte[]? _frame;
    private readonly int _frameBytes;

    public FrameContent(T message)
    {
        _frame = GrpcProtocol.RentFrame(message, out _frameBytes);
        Headers.TryAddWithoutValidation("content-type", GrpcProtocol.ContentType);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var frame = _frame ?? throw new ObjectDisposedException(nameof(FrameContent<T>));
        return stream.WriteAsync(frame.AsMemory(0, _frameBytes), cancellationToken).AsTask();
    }

    protected override bool TryComputeLength(out long length)
    {
        length = _frameBytes;
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        var frame = Interlocked.Exchange(ref _frame, null);
        if (frame is not null)
        {
            ArrayPool<byte>.Shared.Return(frame);
        }

        base.Dispose(disposing);
    }
}
