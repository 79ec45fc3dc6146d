using System.IO.Hashing;

namespace RaftHead.Durability;

/// <summary>
/// CRC-32C (Castagnoli) as every on-disk record here uses it: initial value and final xor all ones, reflected,
/// so "123456789" gives 0xE3069283. The only implementation in the code base; the WAL and the segment
/// headers already on disk were written with exactly these values.
/// </summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, data);

    /// <summary>For data that arrives in pieces: <c>Append</c> each piece, then <c>GetCurrentHashAsUInt32</c>.</summary>
    public static Crc32 CreateIncremental() => new(Crc32ParameterSet.Crc32C);
}
