using System.Collections.Concurrent;
using Google.Protobuf;
using RaftHead.Bench.Wire;

namespace RaftHead.Bench;

/// <summary>Deterministic payloads, made once per size: both sides of a comparison send identical bytes.</summary>
internal static class Payloads
{
    /// <summary>Largest message the download will send, and the most messages per call.</summary>
    public const int MaxStreamMessageBytes = 4 * 1024 * 1024;

    public const int MaxStreamMessages = 1_000_000;

    private static readonly ConcurrentDictionary<int, byte[]> Bytes = new();

    public static byte[] Raw(int size) => Bytes.GetOrAdd(size, static n =>
    {
        var data = new byte[n];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(7 + (i * 31));
        }

        return data;
    });

    // Wrapped, not copied: the array above is never written after it is made.
    public static Payload Of(int size) => new() { Value = UnsafeByteOperations.UnsafeWrap(Raw(size)) };
}
