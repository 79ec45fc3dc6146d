using System.Collections.Immutable;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// The replicated action cache: bounded, forgetting the least recently updated entry first. <see cref="Order"/> maps
/// an update sequence to its key; only the relative order is state (a snapshot keeps the order, not the numbers).
/// </summary>
public sealed record ActionCacheState(
    ImmutableDictionary<ActionKey, (long Sequence, CacheEntry Entry)> Entries,
    ImmutableSortedDictionary<long, ActionKey> Order,
    long NextSequence)
{
    public static ActionCacheState Empty { get; } = new(ImmutableDictionary<ActionKey, (long, CacheEntry)>.Empty, ImmutableSortedDictionary<long, ActionKey>.Empty, 0);

    public int Count => Entries.Count;

    public CacheEntry? Find(ActionKey key) => Entries.TryGetValue(key, out var found) ? found.Entry : null;

    /// <summary>Stores or replaces the entry as the newest, then forgets the oldest beyond <paramref name="entriesMax"/>.</summary>
    public ActionCacheState Put(ActionKey key, CacheEntry entry, int entriesMax)
    {
        var entries = Entries;
        var order = Order;
        if (entries.TryGetValue(key, out var previous))
        {
            order = order.Remove(previous.Sequence);
        }

        entries = entries.SetItem(key, (NextSequence, entry));
        order = order.Add(NextSequence, key);
        while (entries.Count > entriesMax)
        {
            var oldest = order.First();
            order = order.Remove(oldest.Key);
            entries = entries.Remove(oldest.Value);
        }

        return new ActionCacheState(entries, order, NextSequence + 1);
    }

    /// <summary>Entries oldest first: the order a snapshot encodes.</summary>
    public IEnumerable<CacheEntry> OldestFirst()
    {
        foreach (var (_, key) in Order)
        {
            yield return Entries[key].Entry;
        }
    }
}
