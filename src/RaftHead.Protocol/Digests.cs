using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;

namespace RaftHead.Protocol;

/// <summary>
/// SHA-256 content digests in REAPI form: <c>hash</c> is 64 lowercase hex characters and
/// <c>size_bytes</c> is the blob length. RaftHead supports only SHA-256, so every check here
/// assumes it. Allocation: one <see cref="Digest"/> and one 64-character string per computed
/// digest; validation and parsing allocate nothing until they succeed.
/// </summary>
public static class Digests
{
    /// <summary>Length of a SHA-256 hash in bytes.</summary>
    public const int HashByteLength = 32;

    /// <summary>Length of a SHA-256 hash in lowercase hex characters.</summary>
    public const int HashHexLength = HashByteLength * 2;

    /// <summary>SHA-256 of the empty blob. Servers must treat it as always present.</summary>
    public const string EmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    // Longest client-supplied text we echo back inside an error message.
    private const int MaxEchoLength = 80;

    // Serialized messages up to this size are hashed from the stack; larger ones use the pool.
    private const int StackSerializeLimit = 1024;

    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

    /// <summary>
    /// The digest of the empty blob. A new instance on every call: protobuf messages are mutable and
    /// a shared one could be changed by any caller.
    /// </summary>
    public static Digest Empty => new() { Hash = EmptyHash, SizeBytes = 0 };

    /// <summary>
    /// The empty blob: every REAPI server holds it without an upload, so it is never stored, copied or fetched.
    /// </summary>
    public static bool IsEmptyBlob(Digest digest) => digest.SizeBytes == 0 && digest.Hash == EmptyHash;

    /// <summary>SHA-256 digest of <paramref name="data"/>.</summary>
    public static Digest Compute(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[HashByteLength];
        SHA256.HashData(data, hash);
        return new Digest { Hash = Convert.ToHexStringLower(hash), SizeBytes = data.Length };
    }

    /// <summary>True when <paramref name="data"/> is the blob <paramref name="digest"/> names: its size and SHA-256, in lowercase hex.</summary>
    public static bool Matches(Digest digest, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(digest);
        if (data.Length != digest.SizeBytes || !IsValidHash(digest.Hash))
        {
            return false;
        }

        Span<byte> actual = stackalloc byte[HashByteLength];
        Span<byte> expected = stackalloc byte[HashByteLength];
        SHA256.HashData(data, actual);
        return Convert.FromHexString(digest.Hash, expected, out _, out var written) == OperationStatus.Done
            && written == HashByteLength
            && actual.SequenceEqual(expected);
    }

    /// <summary>
    /// Digest from a SHA-256 computed elsewhere, e.g. by an <see cref="IncrementalHash"/> over a
    /// stream. <paramref name="sha256"/> must be exactly 32 bytes.
    /// </summary>
    public static Digest FromHash(ReadOnlySpan<byte> sha256, long sizeBytes)
    {
        if (sha256.Length != HashByteLength)
        {
            throw new ArgumentException($"a SHA-256 hash is {HashByteLength} bytes, got {sha256.Length}", nameof(sha256));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(sizeBytes);
        return new Digest { Hash = Convert.ToHexStringLower(sha256), SizeBytes = sizeBytes };
    }

    /// <summary>
    /// Digest of a message's binary encoding, which is what REAPI means by the digest of an
    /// <c>Action</c>, <c>Command</c>, <c>Directory</c> or <c>Tree</c>. Google.Protobuf writes
    /// fields in field-number order; unknown fields the message carries are hashed too, so hash
    /// messages you built rather than ones you parsed from an untrusted peer.
    /// </summary>
    public static Digest ComputeOf(IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        int size = message.CalculateSize();
        if (size <= StackSerializeLimit)
        {
            Span<byte> buffer = stackalloc byte[size];
            message.WriteTo(buffer);
            return Compute(buffer);
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            Span<byte> buffer = rented.AsSpan(0, size);
            message.WriteTo(buffer);
            return Compute(buffer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>True if <paramref name="hash"/> is exactly 64 lowercase hex characters.</summary>
    public static bool IsValidHash(ReadOnlySpan<char> hash) =>
        hash.Length == HashHexLength && !hash.ContainsAnyExcept(LowerHex);

    /// <summary>True if <paramref name="digest"/> is present, has a valid hash and a non-negative size.</summary>
    public static bool IsValid([NotNullWhen(true)] Digest? digest) =>
        digest is not null && digest.SizeBytes >= 0 && IsValidHash(digest.Hash);

    /// <summary>
    /// Checks a digest received from a client. Returns null when it is valid, otherwise a message
    /// precise enough to put in an INVALID_ARGUMENT status as is.
    /// </summary>
    public static string? Validate(Digest? digest)
    {
        if (digest is null)
        {
            return "digest is missing";
        }

        string? hashError = ValidateHash(digest.Hash);
        if (hashError is not null)
        {
            return hashError;
        }

        if (digest.SizeBytes < 0)
        {
            return string.Create(
                CultureInfo.InvariantCulture,
                $"digest size_bytes must not be negative, got {digest.SizeBytes} (hash {digest.Hash})");
        }

        return null;
    }

    /// <summary>
    /// Checks a hash string. Returns null when it is 64 lowercase hex characters, otherwise a message
    /// naming the first problem (length, or the offending character and its position).
    /// </summary>
    public static string? ValidateHash(ReadOnlySpan<char> hash)
    {
        if (hash.Length != HashHexLength)
        {
            return string.Create(
                CultureInfo.InvariantCulture,
                $"digest hash must be {HashHexLength} lowercase hex characters (SHA-256), got {hash.Length} characters: '{Echo(hash)}'");
        }

        int bad = hash.IndexOfAnyExcept(LowerHex);
        if (bad >= 0)
        {
            char c = hash[bad];
            string what = c is >= 'A' and <= 'F'
                ? "uppercase hex is not allowed"
                : "only 0-9 and a-f are allowed";
            return string.Create(
                CultureInfo.InvariantCulture,
                $"digest hash has '{Printable(c)}' at position {bad}: {what} (hash '{Echo(hash)}')");
        }

        return null;
    }

    /// <summary>
    /// Parses <c>"{hash}/{size}"</c>, the digest part of a REAPI resource name, strictly: exactly
    /// one '/', a valid hash, and a size of ASCII digits only (no sign, no spaces) that fits an
    /// <see cref="long"/>.
    /// </summary>
    public static bool TryParse(
        string? text,
        [NotNullWhen(true)] out Digest? digest,
        [NotNullWhen(false)] out string? error)
    {
        if (text is null)
        {
            digest = null;
            error = "digest is missing";
            return false;
        }

        return TryParse(text.AsSpan(), out digest, out error);
    }

    /// <inheritdoc cref="TryParse(string?, out Digest?, out string?)"/>
    public static bool TryParse(
        ReadOnlySpan<char> text,
        [NotNullWhen(true)] out Digest? digest,
        [NotNullWhen(false)] out string? error)
    {
        digest = null;
        int slash = text.IndexOf('/');
        if (slash < 0)
        {
            error = $"digest '{Echo(text)}' is not of the form '{{hash}}/{{size}}': no '/' found";
            return false;
        }

        ReadOnlySpan<char> hash = text[..slash];
        ReadOnlySpan<char> size = text[(slash + 1)..];

        error = ValidateHash(hash);
        if (error is not null)
        {
            return false;
        }

        if (size.IsEmpty)
        {
            error = $"digest '{Echo(text)}' has an empty size after '/'";
            return false;
        }

        if (size[0] == '-')
        {
            error = $"digest size must not be negative, got '{Echo(size)}'";
            return false;
        }

        int notDigit = size.IndexOfAnyExceptInRange('0', '9');
        if (notDigit >= 0)
        {
            error = $"digest size '{Echo(size)}' has '{Printable(size[notDigit])}' at position {notDigit}: only decimal digits are allowed";
            return false;
        }

        if (!long.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out long sizeBytes))
        {
            error = $"digest size '{Echo(size)}' does not fit in a 64-bit signed integer";
            return false;
        }

        digest = new Digest { Hash = hash.ToString(), SizeBytes = sizeBytes };
        error = null;
        return true;
    }

    /// <summary>Formats <c>"{hash}/{size}"</c>, as used in ByteStream resource names.</summary>
    public static string ToResourceString(Digest digest)
    {
        ArgumentNullException.ThrowIfNull(digest);
        return string.Create(CultureInfo.InvariantCulture, $"{digest.Hash}/{digest.SizeBytes}");
    }

    private static string Echo(ReadOnlySpan<char> text) =>
        text.Length <= MaxEchoLength
            ? text.ToString()
            : string.Concat(text[..MaxEchoLength], "...");

    private static string Printable(char c) =>
        char.IsControl(c) || char.IsWhiteSpace(c)
            ? string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}")
            : c.ToString();
}
