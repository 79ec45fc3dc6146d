using System.Buffers.Binary;
using System.Numerics;

namespace RaftHead.Consensus.Log;

/// <summary>
/// CRC-32C (Castagnoli). <see cref="BitOperations.Crc32C(uint, ulong)"/> is only the raw reflected update
/// step (hardware-accelerated); the standard checksum also needs the all-ones initial value and final xor.
/// </summary>
public static class Crc32C
{
    private const uint InitialValue = 0xFFFF_FFFF;

    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(InitialValue, data));

    /// <summary>Feeds more bytes into a running (not yet finished) state that started from <see cref="Start"/>.</summary>
    public static uint Append(uint state, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data) state = BitOperations.Crc32C(state, b);
        return state;
    }

    public static uint Start => InitialValue;

    public static uint Finish(uint state) => state ^ 0xFFFF_FFFF;
}
