namespace RaftHead.Durability.Tests;

public sealed class Crc32CTests
{
    [Fact]
    public void Matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(0u, Crc32C.Compute(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Feeding_pieces_gives_the_same_value_as_one_call()
    {
        byte[] data = [.. Enumerable.Range(0, 100).Select(i => (byte)i)];
        var crc = Crc32C.CreateIncremental();
        crc.Append(data.AsSpan(0, 13));
        crc.Append(data.AsSpan(13));
        Assert.Equal(Crc32C.Compute(data), crc.GetCurrentHashAsUInt32());
    }

    /// <summary>
    /// Values the two hand-written implementations this one replaced computed (WAL records and segment headers on
    /// disk carry them), over every length around the 8-byte and vector strides.
    /// </summary>
    [Theory]
    [InlineData(0, 0x00000000u)]
    [InlineData(1, 0x86B737BAu)]
    [InlineData(3, 0x765A7C83u)]
    [InlineData(7, 0x5110A112u)]
    [InlineData(8, 0x40795C72u)]
    [InlineData(9, 0x6FE35DA6u)]
    [InlineData(15, 0x9B0C1517u)]
    [InlineData(16, 0xCF7845A4u)]
    [InlineData(17, 0x10C70233u)]
    [InlineData(31, 0x17430993u)]
    [InlineData(32, 0x9AC661B0u)]
    [InlineData(33, 0xD7082B08u)]
    [InlineData(63, 0xD7013350u)]
    [InlineData(64, 0x2B1D65D8u)]
    [InlineData(65, 0x1C1BB57Fu)]
    [InlineData(100, 0xE26C441Cu)]
    [InlineData(255, 0x0FD95F5Eu)]
    [InlineData(256, 0xC6C61F2Fu)]
    [InlineData(1000, 0x16B59494u)]
    [InlineData(4096, 0xF50C9A2Bu)]
    [InlineData(65537, 0x306C37D2u)]
    public void Matches_what_the_previous_implementations_wrote(int length, uint expected)
    {
        Assert.Equal(expected, Crc32C.Compute(Pattern(length)));
    }

    [Fact]
    public void Matches_the_bitwise_definition_for_random_data()
    {
        var random = new Random(20240611);
        for (int i = 0; i < 2000; i++)
        {
            byte[] data = new byte[random.Next(0, 600)];
            random.NextBytes(data);
            Assert.Equal(Bitwise(data), Crc32C.Compute(data));
        }
    }

    private static byte[] Pattern(int length)
    {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 31 + 7) ^ (i >> 8));
        }

        return bytes;
    }

    /// <summary>The textbook reflected CRC with the Castagnoli polynomial, one bit at a time.</summary>
    private static uint Bitwise(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFF_FFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1;
            }
        }

        return ~crc;
    }
}
