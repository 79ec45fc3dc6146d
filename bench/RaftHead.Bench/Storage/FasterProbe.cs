using System.Reflection;
using RaftHead.Storage;

namespace RaftHead.Bench.Storage;

/// <summary>
/// The sizes of a store's FASTER structures, read by reflection (the index is internal to RaftHead.Storage; this is a
/// measurement aid, not an API): hash table buckets, overflow buckets, allocated log pages, and how much of the log is
/// in memory (tail − head) against all of it (tail − begin).
/// </summary>
internal sealed record FasterProbe(long IndexBuckets, long OverflowBuckets, long LogMemoryBytes, long LogInMemoryBytes, long LogBytes, long RecordBytes)
{
    public const int BucketBytes = 64;

    public long StructureBytes => ((IndexBuckets + OverflowBuckets) * BucketBytes) + LogMemoryBytes;

    public static FasterProbe? TryRead(FasterBlobStore store)
    {
        try
        {
            const BindingFlags Flags = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
            var index = typeof(FasterBlobStore).GetField("_index", Flags)!.GetValue(store)!;
            var kv = index.GetType().GetField("_kv", Flags)!.GetValue(index)!;
            var log = Get(kv, "Log");
            long L(object o, string name) => Convert.ToInt64(Get(o, name), System.Globalization.CultureInfo.InvariantCulture);
            var tail = L(log, "TailAddress");
            return new FasterProbe(
                L(kv, "IndexSize"),
                L(kv, "OverflowBucketCount"),
                L(log, "MemorySizeBytes"),
                tail - L(log, "HeadAddress"),
                tail - L(log, "BeginAddress"),
                L(log, "FixedRecordSize"));
        }
        catch (Exception e) when (e is NullReferenceException or ArgumentException or TargetException or InvalidCastException)
        {
            return null; // the fields moved: the heap and RSS figures still stand
        }
    }

    private static object Get(object target, string property) =>
        target.GetType().GetProperty(property, BindingFlags.Instance | BindingFlags.Public)!.GetValue(target)!;
}
