using System.Diagnostics;

namespace RaftHead.Consensus.Replication;

/// <summary>
/// Bounded ring of the last indexes of unacknowledged append messages to one follower. When it is full the
/// leader stops sending until acknowledgements free slots, which bounds memory and network use per follower.
/// </summary>
public sealed class Inflights
{
    private readonly long[] _buffer;
    private int _start;

    public Inflights(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _buffer = new long[capacity];
    }

    public int Count { get; private set; }

    public int Capacity => _buffer.Length;

    public bool Full => Count == _buffer.Length;

    public void Add(long lastIndex)
    {
        if (Full) throw new InvalidOperationException("In-flight window is full.");
        Debug.Assert(Count == 0 || lastIndex > _buffer[(_start + Count - 1) % _buffer.Length], "in-flight indexes must increase");
        _buffer[(_start + Count) % _buffer.Length] = lastIndex;
        Count++;
    }

    /// <summary>Frees every message whose last index is at or below <paramref name="index"/>.</summary>
    public void FreeLessOrEqual(long index)
    {
        while (Count > 0 && _buffer[_start] <= index)
        {
            _start = (_start + 1) % _buffer.Length;
            Count--;
        }
        if (Count == 0) _start = 0;
    }

    /// <summary>Makes room for one probe when acknowledgements were lost, so a full window cannot stall forever.</summary>
    public void FreeFirstOne()
    {
        if (Count == 0) return;
        FreeLessOrEqual(_buffer[_start]);
    }

    public void Reset()
    {
        Count = 0;
        _start = 0;
    }
}
