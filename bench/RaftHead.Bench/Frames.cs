using System.Buffers.Binary;
using Google.Protobuf;

namespace RaftHead.Bench;

/// <summary>gRPC length-prefixed framing of whole messages, for the bare baseline (which has no gRPC library).</summary>
internal static class Frames
{
    /// <summary>One flag byte (uncompressed) and a big-endian 32-bit length.</summary>
    public const int HeaderBytes = 5;

    public const string ContentType = "application/grpc";

    public static byte[] Encode(IMessage message)
    {
        var size = message.CalculateSize();
        var frame = new byte[HeaderBytes + size];
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), size);
        message.WriteTo(frame.AsSpan(HeaderBytes));
        return frame;
    }
}
