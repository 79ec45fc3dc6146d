using System.Buffers.Binary;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>
/// The simulated application: an ordered set of client values. Duplicate values (client retries that were
/// committed twice) are ignored, which is how "exactly once" is achieved on top of at-least-once proposals.
/// </summary>
public sealed class SimStateMachine
{
    public List<long> Values { get; } = new();

    public HashSet<long> Seen { get; } = new();

    /// <summary>Returns the position the value took, or -1 for a duplicate.</summary>
    public int Apply(long value)
    {
        if (!Seen.Add(value)) return -1;
        Values.Add(value);
        return Values.Count - 1;
    }

    public byte[] Serialize()
    {
        var bytes = new byte[Values.Count * 8];
        for (var i = 0; i < Values.Count; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), Values[i]);
        return bytes;
    }

    public static SimStateMachine Deserialize(ReadOnlySpan<byte> bytes)
    {
        var sm = new SimStateMachine();
        for (var i = 0; i + 8 <= bytes.Length; i += 8) sm.Apply(BinaryPrimitives.ReadInt64LittleEndian(bytes[i..]));
        return sm;
    }
}
