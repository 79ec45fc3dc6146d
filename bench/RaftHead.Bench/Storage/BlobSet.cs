using System.Buffers.Binary;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Bench.Storage;

/// <summary>
/// Distinct blobs of one size without holding them all: blob i is a fixed random body whose first 16 bytes are
/// (salt, i). Digests are computed ahead of the timed loop, so the timed loop pays only what the store pays.
/// </summary>
internal sealed class BlobSet
{
    private readonly byte[] _body;
    private readonly long _salt;

    public BlobSet(int sizeBytes, long salt, int seed)
    {
        if (sizeBytes < 16)
        {
            throw new ArgumentOutOfRangeException(nameof(sizeBytes), "blobs carry a 16-byte (salt, index) prefix");
        }

        _body = GC.AllocateUninitializedArray<byte>(sizeBytes);
        new Random(seed).NextBytes(_body);
        _salt = salt;
    }

    private BlobSet(byte[] body, long salt)
    {
        _body = body;
        _salt = salt;
    }

    public int SizeBytes => _body.Length;

    /// <summary>The same body under another salt: a disjoint set of blobs, no second copy of the body.</summary>
    public BlobSet WithSalt(long salt) => new(_body, salt);

    /// <summary>A writer's own buffer (a copy of the body); <see cref="Fill"/> turns it into blob i.</summary>
    public byte[] NewBuffer() => (byte[])_body.Clone();

    public void Fill(byte[] buffer, long index)
    {
        BinaryPrimitives.WriteInt64LittleEndian(buffer, _salt);
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(8), index);
    }

    /// <summary>The digests of blobs 0..count-1 (hashed here, outside any timed loop).</summary>
    public Digest[] Digests(int count)
    {
        var digests = new Digest[count];
        var buffer = NewBuffer();
        for (var i = 0; i < count; i++)
        {
            Fill(buffer, i);
            digests[i] = DigestOf(buffer);
        }

        return digests;
    }

    public static Digest DigestOf(ReadOnlySpan<byte> data) =>
        new() { Hash = Convert.ToHexStringLower(SHA256.HashData(data)), SizeBytes = data.Length };
}
