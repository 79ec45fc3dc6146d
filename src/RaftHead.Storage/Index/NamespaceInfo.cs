using RaftHead.Storage.Segments;

namespace RaftHead.Storage.Index;

/// <summary>One (kind, instance name) namespace: its 8-byte id in index keys and its live counters.</summary>
internal sealed class NamespaceInfo(long id, RecordKind kind, string? instanceName)
{
    private long _count;
    private long _bytes;

    public long Id { get; } = id;

    public RecordKind Kind { get; } = kind;

    public string? InstanceName { get; set; } = instanceName;

    public long Count => Volatile.Read(ref _count);

    public long Bytes => Volatile.Read(ref _bytes);

    public void Add(long count, long bytes)
    {
        Interlocked.Add(ref _count, count);
        Interlocked.Add(ref _bytes, bytes);
    }
}
