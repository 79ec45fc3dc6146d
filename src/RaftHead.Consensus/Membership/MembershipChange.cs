using System.Buffers.Binary;

namespace RaftHead.Consensus.Membership;

/// <summary>A single-server membership change, carried as the payload of a log entry.</summary>
public sealed record MembershipChange(MembershipChangeKind Kind, long NodeId)
{
    private const int EncodedBytes = 9;

    public byte[] Encode()
    {
        var bytes = new byte[EncodedBytes];
        bytes[0] = (byte)Kind;
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(1), NodeId);
        return bytes;
    }

    public static MembershipChange Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != EncodedBytes) throw new FormatException($"A membership change is {EncodedBytes} bytes, got {bytes.Length}.");
        var kind = (MembershipChangeKind)bytes[0];
        if (!Enum.IsDefined(kind)) throw new FormatException($"Unknown membership change kind {bytes[0]}.");
        return new MembershipChange(kind, BinaryPrimitives.ReadInt64LittleEndian(bytes[1..]));
    }
}
