using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Action = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Protocol.Tests;

public sealed class DigestsTests
{
    private const string AbcHash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    [Fact]
    public void EmptyBlobHasTheWellKnownDigest()
    {
        Digest empty = Digests.Compute([]);

        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", empty.Hash);
        Assert.Equal(0, empty.SizeBytes);
        Assert.Equal(Digests.Empty, empty);
        Assert.Equal(Digests.EmptyHash, empty.Hash);
    }

    [Fact]
    public void EmptyIsAFreshInstanceEachTime()
    {
        Digest first = Digests.Empty;
        first.SizeBytes = 99;

        Assert.Equal(0, Digests.Empty.SizeBytes);
    }

    [Fact]
    public void AbcHasTheFips180Vector()
    {
        Digest digest = Digests.Compute("abc"u8);

        Assert.Equal(AbcHash, digest.Hash);
        Assert.Equal(3, digest.SizeBytes);
        Assert.Equal($"{AbcHash}/3", Digests.ToResourceString(digest));
    }

    [Fact]
    public void FromHashMatchesCompute()
    {
        using var incremental = System.Security.Cryptography.IncrementalHash.CreateHash(
            System.Security.Cryptography.HashAlgorithmName.SHA256);
        incremental.AppendData("a"u8);
        incremental.AppendData("bc"u8);

        Digest digest = Digests.FromHash(incremental.GetHashAndReset(), 3);

        Assert.Equal(Digests.Compute("abc"u8), digest);
        Assert.Throws<ArgumentException>(() => Digests.FromHash(new byte[31], 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Digests.FromHash(new byte[32], -1));
    }

    [Fact]
    public void ComputeOfHashesTheSerializedMessage()
    {
        var command = new Command { Arguments = { "/bin/echo", "hello" }, WorkingDirectory = "w" };

        Digest digest = Digests.ComputeOf(command);

        Assert.Equal(Digests.Compute(command.ToByteArray()), digest);
    }

    [Fact]
    public void ComputeOfLargeMessageUsesThePooledPath()
    {
        var blob = new BatchUpdateBlobsRequest.Types.Request { Data = ByteString.CopyFrom(new byte[100_000]) };

        Digest digest = Digests.ComputeOf(blob);

        Assert.Equal(Digests.Compute(blob.ToByteArray()), digest);
        Assert.Equal(blob.CalculateSize(), digest.SizeBytes);
    }

    [Fact]
    public void ComputeOfEmptyMessageIsTheEmptyDigest()
    {
        Assert.Equal(Digests.Empty, Digests.ComputeOf(new Action()));
    }

    [Theory]
    [InlineData(AbcHash, true)]
    [InlineData("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", false)]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a", false)]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0", false)]
    [InlineData("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", false)]
    [InlineData("", false)]
    public void IsValidHashRequiresExactly64LowercaseHex(string hash, bool valid)
    {
        Assert.Equal(valid, Digests.IsValidHash(hash));
    }

    [Fact]
    public void TryParseAcceptsCanonicalForm()
    {
        Assert.True(Digests.TryParse($"{AbcHash}/3", out Digest? digest, out string? error));

        Assert.Null(error);
        Assert.Equal(new Digest { Hash = AbcHash, SizeBytes = 3 }, digest);
    }

    [Fact]
    public void TryParseAcceptsTheLargestSize()
    {
        Assert.True(Digests.TryParse($"{AbcHash}/{long.MaxValue}", out Digest? digest, out _));
        Assert.Equal(long.MaxValue, digest.SizeBytes);
    }

    [Theory]
    [InlineData("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD/3", "uppercase hex is not allowed")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a/3", "got 63 characters")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/-3", "must not be negative")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "no '/' found")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/", "empty size")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/+3", "only decimal digits")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/3 ", "only decimal digits")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/3/x", "only decimal digits")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/9223372036854775808", "does not fit")]
    [InlineData("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/3", "'z' at position 0")]
    [InlineData("/3", "got 0 characters")]
    public void TryParseExplainsWhatIsWrong(string text, string expected)
    {
        Assert.False(Digests.TryParse(text, out Digest? digest, out string? error));

        Assert.Null(digest);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParseRejectsNull()
    {
        Assert.False(Digests.TryParse((string?)null, out _, out string? error));
        Assert.Equal("digest is missing", error);
    }

    [Fact]
    public void ValidateAcceptsGoodDigests()
    {
        Assert.Null(Digests.Validate(Digests.Compute("abc"u8)));
        Assert.Null(Digests.Validate(Digests.Empty));
        Assert.True(Digests.IsValid(Digests.Empty));
    }

    [Fact]
    public void ValidateNamesTheProblem()
    {
        Assert.Equal("digest is missing", Digests.Validate(null));
        Assert.Contains("must not be negative, got -1", Digests.Validate(new Digest { Hash = AbcHash, SizeBytes = -1 }), StringComparison.Ordinal);
        Assert.Contains("uppercase hex is not allowed", Digests.Validate(new Digest { Hash = AbcHash.ToUpperInvariant(), SizeBytes = 3 }), StringComparison.Ordinal);
        Assert.Contains("got 0 characters", Digests.Validate(new Digest { SizeBytes = 3 }), StringComparison.Ordinal);
        Assert.False(Digests.IsValid(new Digest { Hash = AbcHash, SizeBytes = -1 }));
        Assert.False(Digests.IsValid(null));
    }

    [Fact]
    public void ErrorMessagesTruncateHugeInput()
    {
        string huge = new('a', 10_000);

        string? error = Digests.ValidateHash(huge);

        Assert.NotNull(error);
        Assert.True(error.Length < 300, $"error is {error.Length} characters long");
        Assert.Contains("got 10000 characters", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorMessagesEscapeControlCharacters()
    {
        string hash = string.Concat(AbcHash.AsSpan(0, 63), "\n");

        string? error = Digests.ValidateHash(hash);

        Assert.NotNull(error);
        Assert.Contains("\\u000a", error, StringComparison.Ordinal);
        Assert.Contains("position 63", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ResourceStringRoundTrips()
    {
        Digest digest = Digests.Compute(Encoding.UTF8.GetBytes("round trip"));

        Assert.True(Digests.TryParse(Digests.ToResourceString(digest), out Digest? parsed, out _));
        Assert.Equal(digest, parsed);
    }
}
