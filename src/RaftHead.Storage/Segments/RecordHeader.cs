using System.Buffers.Binary;
using RaftHead.Durability;
using RaftHead.Storage.Index;

namespace RaftHead.Storage.Segments;

/// <summary>
/// The fixed header in front of every record in a segment file. Layout (little endian):
/// <code>
///   0  u32  magic "RHR1"
///   4  u8   kind (RecordKind)
///   5  3    zero
///   8  i64  namespace
///  16  32   key hash (for CAS: the blob's SHA-256)
///  48  i64  key size (for CAS: the blob's size)
///  56  i64  data length
///  64  32   SHA-256 of the data
///  96  i64  write sequence
/// 104  u32  CRC-32C of bytes 0..104
/// 108  u32  zero
/// </code>
/// The header CRC tells a torn or garbage header from a real one during recovery; the data SHA-256
/// tells whether the bytes that follow are the bytes that were written.
/// </summary>
internal struct RecordHeader
{
    public const int Size = 112;
    private const uint Magic = 0x31524852; // "RHR1"
    private const int CrcOffset = 104;

    public RecordKind Kind;
    public IndexKey Key;
    public long DataLength;
    public ulong Sha0;
    public ulong Sha1;
    public ulong Sha2;
    public ulong Sha3;
    public long Sequence;

    public static RecordHeader Create(RecordKind kind, IndexKey key, long dataLength, ReadOnlySpan<byte> dataSha256, long sequence) =>
        new()
        {
            Kind = kind,
            Key = key,
            DataLength = dataLength,
            Sha0 = BinaryPrimitives.ReadUInt64LittleEndian(dataSha256),
            Sha1 = BinaryPrimitives.ReadUInt64LittleEndian(dataSha256[8..]),
            Sha2 = BinaryPrimitives.ReadUInt64LittleEndian(dataSha256[16..]),
            Sha3 = BinaryPrimitives.ReadUInt64LittleEndian(dataSha256[24..]),
            Sequence = sequence,
        };

    public readonly bool DataShaEquals(ReadOnlySpan<byte> sha256) =>
        Sha0 == BinaryPrimitives.ReadUInt64LittleEndian(sha256)
        && Sha1 == BinaryPrimitives.ReadUInt64LittleEndian(sha256[8..])
        && Sha2 == BinaryPrimitives.ReadUInt64LittleEndian(sha256[16..])
        && Sha3 == BinaryPrimitives.ReadUInt64LittleEndian(sha256[24..]);

    public readonly byte[] DataSha()
    {
        var sha = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(sha, Sha0);
        BinaryPrimitives.WriteUInt64LittleEndian(sha.AsSpan(8), Sha1);
        BinaryPrimitives.WriteUInt64LittleEndian(sha.AsSpan(16), Sha2);
        BinaryPrimitives.WriteUInt64LittleEndian(sha.AsSpan(24), Sha3);
        return sha;
    }

    public readonly void Write(Span<byte> destination)
    {
        destination = destination[..Size];
        destination.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        destination[4] = (byte)Kind;
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], Key.Namespace);
        Key.WriteHash(destination[16..]);
        BinaryPrimitives.WriteInt64LittleEndian(destination[48..], Key.SizeBytes);
        BinaryPrimitives.WriteInt64LittleEndian(destination[56..], DataLength);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[64..], Sha0);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[72..], Sha1);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[80..], Sha2);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[88..], Sha3);
        BinaryPrimitives.WriteInt64LittleEndian(destination[96..], Sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[CrcOffset..], Crc32C.Compute(destination[..CrcOffset]));
    }

    /// <summary>Parses a header; false if the magic, kind, CRC or lengths are not those of a record we wrote.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out RecordHeader header)
    {
        header = default;
        if (source.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(source) != Magic)
        {
            return false;
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(source[CrcOffset..]) != Crc32C.Compute(source[..CrcOffset]))
        {
            return false;
        }

        var kind = (RecordKind)source[4];
        if (kind is not (RecordKind.Cas or RecordKind.ActionResult))
        {
            return false;
        }

        header.Kind = kind;
        header.Key = IndexKey.Create(
            BinaryPrimitives.ReadInt64LittleEndian(source[8..]),
            source.Slice(16, 32),
            BinaryPrimitives.ReadInt64LittleEndian(source[48..]));
        header.DataLength = BinaryPrimitives.ReadInt64LittleEndian(source[56..]);
        header.Sha0 = BinaryPrimitives.ReadUInt64LittleEndian(source[64..]);
        header.Sha1 = BinaryPrimitives.ReadUInt64LittleEndian(source[72..]);
        header.Sha2 = BinaryPrimitives.ReadUInt64LittleEndian(source[80..]);
        header.Sha3 = BinaryPrimitives.ReadUInt64LittleEndian(source[88..]);
        header.Sequence = BinaryPrimitives.ReadInt64LittleEndian(source[96..]);
        return header.DataLength >= 0 && header.Key.SizeBytes >= 0;
    }
}
