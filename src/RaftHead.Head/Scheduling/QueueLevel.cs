using System.Collections.Immutable;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// The operations waiting at one <see cref="QueueKey"/>: per tool invocation, in submission order (a requeued
/// operation keeps its place), and the round-robin order in which invocations are served. An invocation is in
/// <see cref="Ring"/> exactly when it has waiting operations; serving one moves it to the end.
/// </summary>
public sealed record QueueLevel(ImmutableList<string> Ring, ImmutableDictionary<string, ImmutableSortedDictionary<long, string>> Waiting)
{
    public static QueueLevel Empty { get; } = new(ImmutableList<string>.Empty, ImmutableDictionary.Create<string, ImmutableSortedDictionary<long, string>>(StringComparer.Ordinal));

    public int Count
    {
        get
        {
            var count = 0;
            foreach (var invocation in Ring)
            {
                count += Waiting[invocation].Count;
            }

            return count;
        }
    }

    public QueueLevel Add(string invocation, long createdIndex, string operationName)
    {
        if (Waiting.TryGetValue(invocation, out var fifo))
        {
            return this with { Waiting = Waiting.SetItem(invocation, fifo.Add(createdIndex, operationName)) };
        }

        var fresh = ImmutableSortedDictionary<long, string>.Empty.Add(createdIndex, operationName);
        return new QueueLevel(Ring.Add(invocation), Waiting.Add(invocation, fresh));
    }

    /// <summary>Removes one operation; <paramref name="served"/> sends its invocation to the back of the ring.</summary>
    public QueueLevel Remove(string invocation, long createdIndex, bool served)
    {
        var fifo = Waiting[invocation].Remove(createdIndex);
        if (fifo.IsEmpty)
        {
            return new QueueLevel(Ring.Remove(invocation, StringComparer.Ordinal), Waiting.Remove(invocation));
        }

        var ring = served ? Ring.Remove(invocation, StringComparer.Ordinal).Add(invocation) : Ring;
        return new QueueLevel(ring, Waiting.SetItem(invocation, fifo));
    }
}
