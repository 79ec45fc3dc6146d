using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage.Tests;

/// <summary>
/// <see cref="VerifyingBlobStore"/> over a store that answers with whatever bytes it was given: the untrusted source
/// (another head, a peer) the decorator exists for.
/// </summary>
public sealed class VerifyingBlobStoreTests
{
    private const int Size = 100_000;

    [Fact]
    public async Task A_whole_read_of_the_right_bytes_is_handed_on_unchanged()
    {
        var (data, digest) = TestBlobs.Make(1, Size);
        var store = new VerifyingBlobStore(new Answering(data), () => "head-x");

        Assert.Equal(data, await TestBlobs.ReadAllAsync(store, "", digest));
    }

    [Theory]
    [InlineData("flipped")]
    [InlineData("short")]
    [InlineData("long")]
    public async Task A_whole_read_of_other_bytes_fails_naming_the_blob_and_the_source(string lie)
    {
        var (data, digest) = TestBlobs.Make(2, Size);
        var sent = lie switch
        {
            "flipped" => Flip(data, Size / 2),
            "short" => data[..(Size - 1)],
            _ => [.. data, 0],
        };
        var store = new VerifyingBlobStore(new Answering(sent), () => "head-x");

        var error = await Assert.ThrowsAsync<BlobVerificationException>(() => TestBlobs.ReadAllAsync(store, "", digest));

        Assert.Contains(digest.Hash, error.Message, StringComparison.Ordinal);
        Assert.Equal("head-x", error.Origin);
    }

    [Fact]
    public async Task A_reader_that_stops_at_the_length_still_gets_the_check()
    {
        var (data, digest) = TestBlobs.Make(3, Size);
        var store = new VerifyingBlobStore(new Answering(Flip(data, Size - 1)), () => "peer-y");
        await using var stream = (await store.OpenReadAsync("", digest, 0, 0, CancellationToken.None))!;
        var buffer = new byte[stream.Length];

        await Assert.ThrowsAsync<BlobVerificationException>(async () => await stream.ReadExactlyAsync(buffer));
    }

    [Fact]
    public async Task A_part_is_held_to_its_length_only()
    {
        var (data, digest) = TestBlobs.Make(4, Size);
        var right = new VerifyingBlobStore(new Answering(data), () => "head-x");
        Assert.Equal(data[10..30], await TestBlobs.ReadAllAsync(right, "", digest, offset: 10, limit: 20));

        // A part cannot be hashed, so other bytes of the right length pass; a wrong length does not.
        var wrongLength = new VerifyingBlobStore(new Answering(data, partBytes: 19), () => "head-x");
        await Assert.ThrowsAsync<BlobVerificationException>(() => TestBlobs.ReadAllAsync(wrongLength, "", digest, offset: 10, limit: 20));
    }

    [Fact]
    public async Task A_blob_the_store_lacks_stays_absent()
    {
        var (_, digest) = TestBlobs.Make(5, Size);
        var store = new VerifyingBlobStore(new Answering(null), () => "head-x");

        Assert.Null(await store.OpenReadAsync("", digest, 0, 0, CancellationToken.None));
    }

    private static byte[] Flip(byte[] data, int at)
    {
        var copy = (byte[])data.Clone();
        copy[at] ^= 0x40;
        return copy;
    }

    /// <summary>Answers every read with the same bytes (cut to the part asked for, or to <c>partBytes</c>), in small chunks.</summary>
    private sealed class Answering(byte[]? bytes, int? partBytes = null) : IBlobStore
    {
        public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public IBlobWriter BeginWrite(string instanceName, Digest digest) => throw new NotSupportedException();

        public IDisposable Pin(string instanceName, Digest digest) => throw new NotSupportedException();

        public ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
        {
            if (bytes is null)
            {
                return ValueTask.FromResult<Stream?>(null);
            }

            var length = partBytes ?? (int)(limit == 0 ? bytes.Length - offset : limit);
            return ValueTask.FromResult<Stream?>(new Trickle(new MemoryStream(bytes, (int)offset, length, writable: false)));
        }
    }

    /// <summary>At most 4 KiB a read, as a network source delivers.</summary>
    private sealed class Trickle(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 4096));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer[..Math.Min(buffer.Length, 4096)], cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
