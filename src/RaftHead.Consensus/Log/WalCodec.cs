using System.Buffers.Binary;
using System.Diagnostics;
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

    /// <summary>
    /// Finds, after the bad record at <paramref name="offset"/>, a well-formed <see cref="WalRecordKind.SyncedThrough"/>
    /// record claiming a sync past that offset: proof the bad bytes were durable, so they are damage, not a torn
    /// or holed unsynced tail. Returns its offset and the claimed synced length, or -1.
    /// </summary>
    public static long FindSyncProofAfter(ReadOnlyMemory<byte> buffer, int offset, int maxRecordBytes, out long syncedBytes)
    {
        syncedBytes = 0;
        var p = offset + 1;
        while (p <= buffer.Length - HeaderBytes - BodyFixedBytes)
        {
            if (!TryDecode(buffer, p, maxRecordBytes, out var record, out var next))
            {
                p++;
                continue;
            }
            if (record.Kind == WalRecordKind.SyncedThrough && record.Index > offset)
            {
                syncedBytes = record.Index;
                return p;
            }
            Debug.Assert(next > p);
            p = next;
        }
        return -1;
    }
}
