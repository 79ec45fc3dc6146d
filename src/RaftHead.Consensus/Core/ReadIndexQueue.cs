using System.Diagnostics;

namespace RaftHead.Consensus.Core;

/// <summary>
/// A leader's outstanding ReadIndex requests, in arrival order. A request is confirmed when a majority answers a
/// heartbeat carrying its context; that also confirms every earlier request, whose heartbeats went out no later.
/// </summary>
internal sealed class ReadIndexQueue
{
    private readonly List<Request> _queue = new();

    public int Count => _queue.Count;

    public ReadOnlyMemory<byte> LastContext => _queue.Count == 0 ? ReadOnlyMemory<byte>.Empty : _queue[^1].Context;

    /// <summary>False when a request with the same context is already queued (it will be answered once).</summary>
    public bool Add(long from, ReadOnlyMemory<byte> context, long commitIndex)
    {
        if (Find(context.Span) >= 0) return false;
        _queue.Add(new Request(from, context, commitIndex, new HashSet<long>()));
        return true;
    }

    public HashSet<long>? RecordAck(ReadOnlySpan<byte> context, long from)
    {
        var i = Find(context);
        if (i < 0) return null;
        _queue[i].Acks.Add(from);
        return _queue[i].Acks;
    }

    /// <summary>Removes and returns every request up to and including the one with <paramref name="context"/>.</summary>
    public List<Request> ReleaseThrough(ReadOnlySpan<byte> context)
    {
        var i = Find(context);
        Debug.Assert(i >= 0);
        var released = _queue.GetRange(0, i + 1);
        _queue.RemoveRange(0, i + 1);
        return released;
    }

    public void Clear() => _queue.Clear();

    private int Find(ReadOnlySpan<byte> context)
    {
        for (var i = 0; i < _queue.Count; i++)
        {
            if (_queue[i].Context.Span.SequenceEqual(context)) return i;
        }
        return -1;
    }

    internal sealed record Request(long From, ReadOnlyMemory<byte> Context, long Index, HashSet<long> Acks);
}
