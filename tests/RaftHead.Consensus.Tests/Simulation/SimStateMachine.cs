using System.Buffers.Binary;
using RaftHead.Consensus.Driver;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>
/// The simulated application: an ordered set of client values. Duplicate values (client retries that were
/// committed twice) are ignored, which is how "exactly once" is achieved on top of at-least-once proposals.
/// The result of applying a command is the command's value, so a client can tell which entry completed it.
/// </summary>
public sealed class SimStateMachine : IStateMachine
{
    public List<long> Values { get; } = new();

    public HashSet<long> Seen { get; } = new();

    /// <summary>Called for every applied command: index, value, position taken (-1 for a duplicate).</summary>
    public Action<long, long, int>? Applied { get; set; }

    /// <summary>Called after a snapshot replaced the state.</summary>
    public Action? Restored { get; set; }

    /// <summary>Returns the position the value took, or -1 for a duplicate.</summary>
    public int Apply(long value)
    {
        if (!Seen.Add(value)) return -1;
        Values.Add(value);
        return Values.Count - 1;
    }

    public byte[] Apply(long index, ReadOnlyMemory<byte> command)
    {
        var value = BinaryPrimitives.ReadInt64LittleEndian(command.Span);
        var position = Apply(value);
        Applied?.Invoke(index, value, position);
        return command.ToArray();
    }

    /// <summary>Serializes at capture time: the simulator's state is small and its time is virtual.</summary>
    public IStateMachineSnapshot CaptureSnapshot() => new Capture(Serialize());

    public void Restore(ReadOnlyMemory<byte> snapshot)
    {
        Values.Clear();
        Seen.Clear();
        for (var i = 0; i + 8 <= snapshot.Length; i += 8) Apply(BinaryPrimitives.ReadInt64LittleEndian(snapshot.Span[i..]));
        Restored?.Invoke();
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

    private sealed class Capture(byte[] bytes) : IStateMachineSnapshot
    {
        public void WriteTo(Stream destination) => destination.Write(bytes);
    }
}
