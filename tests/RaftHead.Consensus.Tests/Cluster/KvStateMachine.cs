using System.Buffers.Binary;
using System.Text;
using RaftHead.Consensus.Driver;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// A tiny replicated key-value store: the command is a put (key, value), the result the index it was applied
/// at. Applied by the driver loop; read by tests after a ReadIndex barrier, hence the lock.
/// </summary>
public sealed class KvStateMachine : IStateMachine
{
    private readonly object _gate = new();
    private Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public long AppliedCount { get; private set; }

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

    public string? Get(string key)
    {
        lock (_gate) return _values.GetValueOrDefault(key);
    }

    public Dictionary<string, string> Copy()
    {
        lock (_gate) return new Dictionary<string, string>(_values, StringComparer.Ordinal);
    }

    public byte[] Apply(long index, ReadOnlyMemory<byte> command)
    {
        var span = command.Span;
        if (span.Length < 4) return Encoding.UTF8.GetBytes("error: short command");
        var keyBytes = BinaryPrimitives.ReadInt32LittleEndian(span);
        if (keyBytes < 0 || keyBytes > span.Length - 4) return Encoding.UTF8.GetBytes("error: bad key length");
        var key = Encoding.UTF8.GetString(span.Slice(4, keyBytes));
        var value = Encoding.UTF8.GetString(span[(4 + keyBytes)..]);
        lock (_gate)
        {
            _values[key] = value;
            AppliedCount++;
        }
        return Encoding.UTF8.GetBytes(index.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public byte[] Snapshot()
    {
        lock (_gate)
        {
            var buffer = new MemoryStream();
            using var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true);
            writer.Write(_values.Count);
            foreach (var (key, value) in _values.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                writer.Write(key);
                writer.Write(value);
            }
            writer.Flush();
            return buffer.ToArray();
        }
    }

    public void Restore(ReadOnlyMemory<byte> snapshot)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        using var reader = new BinaryReader(new MemoryStream(snapshot.ToArray()), Encoding.UTF8);
        var count = reader.ReadInt32();
        for (var i = 0; i < count; i++) values[reader.ReadString()] = reader.ReadString();
        lock (_gate) _values = values;
    }
}
