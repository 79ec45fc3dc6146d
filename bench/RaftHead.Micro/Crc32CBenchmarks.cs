using System.Buffers.Binary;
using System.IO.Hashing;
using System.Numerics;
using BenchmarkDotNet.Attributes;

namespace RaftHead.Micro;

/// <summary>
/// Why <c>src/RaftHead.Consensus/Log/Crc32C.cs</c> gives way to System.IO.Hashing: the baseline is that file's loop
/// (one <see cref="BitOperations.Crc32C(uint, ulong)"/> per 8 bytes, a single dependency chain), against the
/// library's CRC-32C, which is vectorised where the CPU allows.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1852 // BenchmarkDotNet derives from benchmark classes, so they cannot be sealed.
public class Crc32CBenchmarks
#pragma warning restore CA1852
{
    private byte[] _data = [];

    [Params(4 * 1024, 1024 * 1024)]
    public int SizeBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[SizeBytes];
        new Random(SizeBytes).NextBytes(_data);
        if (HandWritten(_data) != Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, _data))
        {
            throw new InvalidOperationException("the two CRC-32C implementations disagree");
        }
    }

    [Benchmark(Baseline = true)]
    public uint BitOperationsLoop() => HandWritten(_data);

    [Benchmark]
    public uint SystemIOHashing() => Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, _data);

    /// <summary>The loop of Consensus/Log/Crc32C.cs as of this commit, kept here as the benchmark's baseline.</summary>
    private static uint HandWritten(ReadOnlySpan<byte> data)
    {
        var state = 0xFFFF_FFFFu;
        while (data.Length >= 8)
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            state = BitOperations.Crc32C(state, b);
        }

        return state ^ 0xFFFF_FFFFu;
    }
}
