namespace RaftHead.Head.Scheduling;

/// <summary>A finished operation in pruning order: oldest first, then by name.</summary>
public readonly record struct FinishedKey(long FinishedAtUnixMs, string Name) : IComparable<FinishedKey>
{
    public int CompareTo(FinishedKey other)
    {
        var byTime = FinishedAtUnixMs.CompareTo(other.FinishedAtUnixMs);
        return byTime != 0 ? byTime : string.CompareOrdinal(Name, other.Name);
    }

    public static bool operator <(FinishedKey left, FinishedKey right) => left.CompareTo(right) < 0;

    public static bool operator <=(FinishedKey left, FinishedKey right) => left.CompareTo(right) <= 0;

    public static bool operator >(FinishedKey left, FinishedKey right) => left.CompareTo(right) > 0;

    public static bool operator >=(FinishedKey left, FinishedKey right) => left.CompareTo(right) >= 0;
}
