namespace RaftHead.Head.Scheduling;

/// <summary>
/// One waiting line: a platform and a REAPI priority. Orders by priority first (lower runs first, as REAPI says), then
/// by platform key, which is the order the planner serves them in.
/// </summary>
public readonly record struct QueueKey(string PlatformKey, int Priority) : IComparable<QueueKey>
{
    public int CompareTo(QueueKey other)
    {
        var byPriority = Priority.CompareTo(other.Priority);
        return byPriority != 0 ? byPriority : string.CompareOrdinal(PlatformKey, other.PlatformKey);
    }

    public static bool operator <(QueueKey left, QueueKey right) => left.CompareTo(right) < 0;

    public static bool operator <=(QueueKey left, QueueKey right) => left.CompareTo(right) <= 0;

    public static bool operator >(QueueKey left, QueueKey right) => left.CompareTo(right) > 0;

    public static bool operator >=(QueueKey left, QueueKey right) => left.CompareTo(right) >= 0;
}
