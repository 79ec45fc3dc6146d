using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace RaftHead.Storage.Index;

/// <summary>
/// FASTER index key: a SHA-256 (as four words), the blob size and a namespace. The namespace is an
/// 8-byte hash of the kind (CAS or action cache) and the REAPI instance name, so instances never see
/// each other's entries. Blittable, 48 bytes.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IndexKey : IEquatable<IndexKey>
{
    public ulong Hash0;
    public ulong Hash1;
    public ulong Hash2;
    public ulong Hash3;
    public long SizeBytes;
    public long Namespace;

    public static IndexKey Create(long ns, ReadOnlySpan<byte> sha256, long sizeBytes)
    {
        return new IndexKey
        {
            Hash0 = BinaryPrimitives.ReadUInt64LittleEndian(sha256),
            Hash1 = BinaryPrimitives.ReadUInt64LittleEndian(sha256[8..]),
            Hash2 = BinaryPrimitives.ReadUInt64LittleEndian(sha256[16..]),
            Hash3 = BinaryPrimitives.ReadUInt64LittleEndian(sha256[24..]),
            SizeBytes = sizeBytes,
            Namespace = ns,
        };
    }

    public readonly void WriteHash(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, Hash0);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Hash1);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], Hash2);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], Hash3);
    }

    public readonly bool HashEquals(ReadOnlySpan<byte> sha256) =>
        Hash0 == BinaryPrimitives.ReadUInt64LittleEndian(sha256)
        && Hash1 == BinaryPrimitives.ReadUInt64LittleEndian(sha256[8..])
        && Hash2 == BinaryPrimitives.ReadUInt64LittleEndian(sha256[16..])
        && Hash3 == BinaryPrimitives.ReadUInt64LittleEndian(sha256[24..]);

    // SHA-256 words are uniformly distributed already; the namespace is mixed in so that one blob
    // stored under many instances does not pile into one bucket.
    public readonly long Hash64() => (long)(Hash0 ^ ((ulong)Namespace * 0x9E3779B97F4A7C15UL));

    public readonly bool Equals(IndexKey other) =>
        Hash0 == other.Hash0 && Hash1 == other.Hash1 && Hash2 == other.Hash2 && Hash3 == other.Hash3
        && SizeBytes == other.SizeBytes && Namespace == other.Namespace;

    public override readonly bool Equals(object? obj) => obj is IndexKey other && Equals(other);

    public override readonly int GetHashCode() => (int)Hash64() ^ (int)(Hash64() >> 32);
}
