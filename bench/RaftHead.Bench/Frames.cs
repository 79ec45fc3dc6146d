using Google.Protobuf;
using RaftHead.Rpc;

namespace RaftHead.Bench;

/// <summary>gRPC length-prefixed framing of whole messages, for the bare baseline.</summary>
internal static class Frames
{
    public static byte[] Encode(IMessage message)
    {
        var size = message.CalculateSize();
        var frame = new byte[GrpcProtocol.FrameHeaderBytes + size];
        GrpcProtocol.WriteFrameHeader(frame, size);
        message.WriteTo(frame.AsSpan(GrpcProtocol.FrameHeaderBytes));
        return frame;
    }
}
