using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace RaftHead.Rpc;

/// <summary>Facts of the gRPC-over-HTTP/2 wire protocol shared by client and server.</summary>
public static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string StatusDetailsHeader = "grpc-status-details-bin";
    public const string TimeoutHeader = "grpc-timeout";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const string IdentityEncoding = "identity";

    /// <summary>One byte of compressed-flag and four of big-endian length before every message.</summary>
    public const int FrameHeaderBytes = 5;

    public const int DefaultMaxReceiveMessageBytes = 4 * 1024 * 1024;

    /// <summary>Headers that belong to the protocol and are never surfaced as custom metadata.</summary>
    public static bool IsReservedHeader(string key) =>
        key.Length == 0
        || key[0] == ':'
        || key is "content-type" or "te" or "host" or "content-length" or "grpc-timeout" or "grpc-encoding"
            or "grpc-accept-encoding" or "grpc-status" or "grpc-message" or "grpc-status-details-bin"
            or "accept-encoding" or "connection" or "transfer-encoding";

    public static void WriteFrameHeader(Span<byte> destination, int messageBytes)
    {
        destination[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(1, 4), (uint)messageBytes);
    }

    /// <summary>Parses a <c>grpc-timeout</c> value: at most 8 digits and one unit of H, M, S, m, u or n.</summary>
    public static bool TryParseTimeout(ReadOnlySpan<char> value, out TimeSpan timeout)
    {
        timeout = default;
        if (value.Length < 2 || value.Length > 9)
        {
            return false;
        }

        long amount = 0;
        for (var i = 0; i < value.Length - 1; i++)
        {
            var c = value[i];
            if (c is < '0' or > '9')
            {
                return false;
            }

            amount = (amount * 10) + (c - '0');
        }

        long ticks;
        switch (value[^1])
        {
            case 'H': ticks = amount * TimeSpan.TicksPerHour; break;
            case 'M': ticks = amount * TimeSpan.TicksPerMinute; break;
            case 'S': ticks = amount * TimeSpan.TicksPerSecond; break;
            case 'm': ticks = amount * TimeSpan.TicksPerMillisecond; break;
            case 'u': ticks = amount * 10; break;
            case 'n': ticks = amount / 100; break;
            default: return false;
        }

        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>Formats a timeout with the finest unit whose amount still fits in 8 digits.</summary>
    public static string FormatTimeout(TimeSpan timeout)
    {
        const long maxAmount = 99_999_999;
        var ticks = Math.Max(0, timeout.Ticks);
        var micros = ticks / 10;
        if (micros <= maxAmount)
        {
            return micros.ToString(System.Globalization.CultureInfo.InvariantCulture) + "u";
        }

        var millis = ticks / TimeSpan.TicksPerMillisecond;
        if (millis <= maxAmount)
        {
            return millis.ToString(System.Globalization.CultureInfo.InvariantCulture) + "m";
        }

        var seconds = ticks / TimeSpan.TicksPerSecond;
        if (seconds <= maxAmount)
        {
            return seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) + "S";
        }

        var minutes = Math.Min(ticks / TimeSpan.TicksPerMinute, maxAmount);
        return minutes.ToString(System.Globalization.CultureInfo.InvariantCulture) + "M";
    }

    /// <summary>Percent-encodes a status message: UTF-8 bytes outside printable ASCII, and '%', become %XX.</summary>
    public static string EncodeMessage(string message)
    {
        var needs = false;
        foreach (var c in message)
        {
            if (c is < ' ' or > '~' or '%')
            {
                needs = true;
                break;
            }
        }

        if (!needs)
        {
            return message;
        }

        var bytes = Encoding.UTF8.GetBytes(message);
        var sb = new StringBuilder(bytes.Length * 2);
        foreach (var b in bytes)
        {
            if (b is < 0x20 or > 0x7E or (byte)'%')
            {
                sb.Append('%').Append(HexUpper[b >> 4]).Append(HexUpper[b & 0xF]);
            }
            else
            {
                sb.Append((char)b);
            }
        }

        return sb.ToString();
    }

    /// <summary>Reverses <see cref="EncodeMessage"/>; malformed escapes are kept as they are, as the spec asks.</summary>
    public static string DecodeMessage(string? encoded)
    {
        if (string.IsNullOrEmpty(encoded) || !encoded.Contains('%'))
        {
            return encoded ?? "";
        }

        var buffer = new byte[encoded.Length];
        var n = 0;
        for (var i = 0; i < encoded.Length; i++)
        {
            var c = encoded[i];
            if (c == '%' && i + 2 < encoded.Length && IsHex(encoded[i + 1]) && IsHex(encoded[i + 2]))
            {
                buffer[n++] = (byte)((HexValue(encoded[i + 1]) << 4) | HexValue(encoded[i + 2]));
                i += 2;
            }
            else
            {
                buffer[n++] = (byte)c;
            }
        }

        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    /// <summary>Binary header values go out unpadded; both padded and unpadded are accepted.</summary>
    public static string EncodeBinaryValue(ReadOnlySpan<byte> value) => Convert.ToBase64String(value).TrimEnd('=');

    public static byte[] DecodeBinaryValue(string value)
    {
        var trimmed = value.Trim();
        var padding = (4 - (trimmed.Length % 4)) % 4;
        if (padding == 3)
        {
            throw new FormatException("Binary metadata value is not valid base64.");
        }

        return Convert.FromBase64String(padding == 0 ? trimmed : trimmed + new string('=', padding));
    }

    /// <summary>The status a client reports when the HTTP layer answers without gRPC status (gRPC's http-grpc mapping).</summary>
    public static StatusCode StatusFromHttp(int httpStatus) => httpStatus switch
    {
        400 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };

    internal static string StatusText(StatusCode code) => ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Serialises a message with its frame header into a pooled buffer; the caller returns it to the pool.</summary>
    internal static byte[] RentFrame<T>(T message, out int frameBytes)
        where T : Google.Protobuf.IMessage
    {
        var size = message.CalculateSize();
        frameBytes = FrameHeaderBytes + size;
        var buffer = ArrayPool<byte>.Shared.Rent(frameBytes);
        WriteFrameHeader(buffer, size);
        MessageWriter<T>.Write(message, buffer.AsSpan(FrameHeaderBytes, size));
        return buffer;
    }

    private static ReadOnlySpan<char> HexUpper => "0123456789ABCDEF";

    private static bool IsHex(char c) => c is (>= '0' and <= '9') or (>= 'a' and <= 'f') or (>= 'A' and <= 'F');

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
