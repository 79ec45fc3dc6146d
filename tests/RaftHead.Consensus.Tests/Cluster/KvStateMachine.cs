using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text;
using RaftHead.Consensus.Driver;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// A tiny replicated key-value store: the command is a put (key, value), the result the index it was applied
/// at. The state is an immutable map, so a snapshot capture is a reference and tests read it from any thread
/// (after a ReadIndex barrier) without a lock.
/// </summary>
public sealed class KvStateMachine : IStateMachine
{
    private ImmutableDictionary<string, string> _values = ImmutableDictionary.Create<string, string>(StringComparer.Ordinal);
    private long _appliedCount;
    private long _captures;

    public long AppliedCount => Interlocked.Read(ref _appliedCount);

    /// <summary>Snapshot captures taken by the driver.</summary>
    public long Captures => Interlocked.Read(ref _captures);

    /// <summary>Runs inside every capture's write, on the driver's snapshot thread (tests hold writes back with it).</summary>
    public Action? OnSnapshotWrite { get; init; }

    public static byte[] Put(string key, string value)
    {
        var k = Encoding.UTF8.GetBytes(key);
        var v = Encoding.UTF8.GetBytes(value);
        var bytes = new byte[4 + k.Length + v.Length];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, k.Length);
        k.CopyTo(bytes, 4);
        v.CopyTo(bytes, 4 + k.Length);
        return bytes;
    }

    public string? Get(string key) => Volatile.Read(ref _values).GetValueOrDefault(key);

    public Dictionary<string, string> Copy() => new(Volatile.Read(ref _values), StringComparer.Ordinal);

    public byte[] Apply(long index, ReadOnlyMemory<byte> command)
    {
        var span = command.Span;
        if (span.Length < 4) return Encoding.UTF8.GetBytes("error: short command");
        var keyBytes = BinaryPrimitives.ReadInt32LittleEndian(span);
        if (keyBytes < 0 || keyBytes > span.Length - 4) return Encoding.UTF8.GetBytes("error: bad key length");
        var key = Encoding.UTF8.GetString(span.Slice(4, keyBytes));
        var value = Encoding.UTF8.GetString(span[(4 + keyBytes)..]);
        Volatile.Write(ref _values, _values.SetItem(key, value));
        Interlocked.Increment(ref _appliedCount);
        return Encoding.UTF8.GetBytes(index.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public IStateMachineSnapshot CaptureSnapshot()
    {
        Interlocked.Increment(ref _captures);
        return new Capture(_values, OnSnapshotWrite);
    }

    public void Restore(ReadOnlyMemory<byte> snapshot)
    {
        var values = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        using var reader = new BinaryReader(new MemoryStream(snapshot.ToArray()), Encoding.UTF8);
        var count = reader.ReadInt32();
        for (var i = 0; i < count; i++) values[reader.ReadString()] = reader.ReadString();
        Volatile.Write(ref _values, values.ToImmutable());
    }

    private sealed class Capture(ImmutableDictionary<string, string> values, Action? onWrite) : IStateMachineSnapshot
    {
        public void WriteTo(Stream destination)
        {
            onWrite?.Invoke();
            using var writer = new BinaryWriter(destination, Encoding.UTF8, leaveOpen: true);
            writer.Write(values.Count);
            foreach (var (key, value) in values.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                writer.Write(key);
                writer.Write(value);
            }
        }
    }
}
