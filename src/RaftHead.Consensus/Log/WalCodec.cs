using System.Buffers.Binary;
using RaftHead.Durability;

namespace RaftHead.Consensus.Log;

/// <summary>
/// Record layout, little-endian: u32 body length, u32 CRC-32C of the body, then the body: u8 kind, i64 term,
/// i64 index, payload. The CRC covers everything the length covers, so a torn or flipped record never parses.
/// </summary>
internal static class WalCodec
{
    public const int HeaderBytes = 8;
    public const int BodyFixedBytes = 17;

    public static int EncodedLength(int payloadLength) => HeaderBytes + BodyFixedBytes + payloadLength;

    public static void Encode(Span<byte> destination, WalRecordKind kind, long term, long index, ReadOnlySpan<byte> payload)
    {
        var bodyLength = BodyFixedBytes + payload.Length;
        var body = destination.Slice(HeaderBytes, bodyLength);
        body[0] = (byte)kind;
        BinaryPrimitives.WriteInt64LittleEndian(body[1..], term);
        BinaryPrimitives.WriteInt64LittleEndian(body[9..], index);
        payload.CopyTo(body[BodyFixedBytes..]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)bodyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Crc32C.Compute(body));
    }

    /// <summary>Parses the record at <paramref name="offset"/>; false when it is torn, corrupt or implausible.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> buffer, int offset, int maxRecordBytes, out WalRecord record, out int next)
    {
        record = default;
        next = offset;
        var span = buffer.Span;
        if (span.Length - offset < HeaderBytes + BodyFixedBytes) return false;
        var bodyLength = BinaryPrimitives.ReadUInt32LittleEndian(span[offset..]);
        if (bodyLength < BodyFixedBytes || bodyLength > (uint)maxRecordBytes) return false;
        if (bodyLength > (uint)(span.Length - offset - HeaderBytes)) return false;
        var body = span.Slice(offset + HeaderBytes, (int)bodyLength);
        if (Crc32C.Compute(body) != BinaryPrimitives.ReadUInt32LittleEndian(span[(offset + 4)..])) return false;
        var kind = (WalRecordKind)body[0];
        if (!Enum.IsDefined(kind)) return false;
        record = new WalRecord(
            kind,
            BinaryPrimitives.ReadInt64LittleEndian(body[1..]),
            BinaryPrimitives.ReadInt64LittleEndian(body[9..]),
            buffer.Slice(offset + HeaderBytes + BodyFixedBytes, (int)bodyLength - BodyFixedBytes));
        next = offset + HeaderBytes + (int)bodyLength;
        return true;
    }

    /// <summary>Whether any well-formed record starts after <paramref name="offset"/>: tells corruption from a torn tail.</summary>
    public static long FindValidRecordAfter(ReadOnlyMemory<byte> buffer, int offset, int maxRecordBytes)
    {
        for (var p = offset + 1; p <= buffer.Length - HeaderBytes - BodyFixedBytes; p++)
        {
            if (TryDecode(buffer, p, maxRecordBytes, out _, out _)) return p;
        }
        return -1;
    }
}
