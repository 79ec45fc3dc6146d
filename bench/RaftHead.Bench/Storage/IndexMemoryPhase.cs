using System.Diagnostics;
using System.Numerics;
using System.Runtime;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;

namespace RaftHead.Bench.Storage;

/// <summary>
/// Index memory per stored blob: a fresh <see cref="FasterBlobStore"/> with index settings sized for the count,
/// filled with N distinct 16-byte blobs through PutAsync. Measured as the growth of the live managed heap (after a
/// full, compacting collection; FASTER keeps its hash table and log pages in pinned managed arrays) and of the
/// resident set, from before the store was opened to after the inserts; plus the FASTER log's size on disk after
/// the closing checkpoint (one record per blob).
/// </summary>
internal sealed class IndexMemoryPhase
{
    /// <summary>FASTER record: RecordInfo (8) + IndexKey (48) + IndexValue (40).</summary>
    public const int RecordBytes = 96;

    private const long Salt = 0x1DE;

    private readonly StorageOptions _options;
    private readonly TextWriter _progress;

    public IndexMemoryPhase(StorageOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
    }

    /// <summary>Buckets: N/8 rounded up to a power of two (a bucket holds 7 entries and an overflow link).</summary>
    public static long BucketsFor(long count) => (long)BitOperations.RoundUpToPowerOf2((ulong)Math.Max(1024, count / 8));

    /// <summary>Log memory: the whole log in memory (N × 96 B plus 10 %), as FasterBlobStoreOptions asks.</summary>
    public static int MemoryBitsFor(long count) => Math.Max(24, (int)Math.Ceiling(Math.Log2(count * RecordBytes * 1.1)));

    public async Task<IReadOnlyList<IndexMemoryRow>> RunAsync(CancellationToken cancellationToken)
    {
        var rows = new List<IndexMemoryRow>();
        foreach (var count in _options.IndexCounts)
        {
            rows.Add(await MeasureAsync(count, cancellationToken).ConfigureAwait(false));
        }

        return rows;
    }

    private static (long Managed, long Rss) Footprint()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return (GC.GetTotalMemory(forceFullCollection: false), self.WorkingSet64);
    }

    private async Task<IndexMemoryRow> MeasureAsync(long count, CancellationToken cancellationToken)
    {
        using var dir = new TempDirectory(_options.TempRoot, $"index-{count}");
        var buckets = BucketsFor(count);
        var memoryBits = MemoryBitsFor(count);
        _progress.WriteLine($"index: {count:N0} blobs, IndexBucketCount {buckets:N0}, IndexMemorySizeBits {memoryBits}, {_options.IndexWriters} writers, at most {_options.IndexSecondsMax:0} s");
        var before = Footprint();
        var store = await FasterBlobStore.OpenAsync(
            new FasterBlobStoreOptions
            {
                DataDirectory = dir.Path,
                IndexBucketCount = buckets,
                IndexMemorySizeBits = memoryBits,
                CheckpointIntervalMs = 0,
                MaxBytes = 64L << 30,
            },
            cancellationToken).ConfigureAwait(false);
        long stored;
        double seconds;
        (long Managed, long Rss) after;
        var lookupsOk = false;
        FasterProbe? probe = null;
        await using (store.ConfigureAwait(false))
        {
            var clock = Stopwatch.StartNew();
            stored = await TinyBlobs.PutAsync(store, Salt, count, _options.IndexWriters, TimeSpan.FromSeconds(_options.IndexSecondsMax), _progress, cancellationToken).ConfigureAwait(false);
            seconds = clock.Elapsed.TotalSeconds;
            after = Footprint();
            probe = FasterProbe.TryRead(store);

            // The first, a middle and the last stored blob are found; one never stored is not.
            var asked = new List<Digest> { TinyBlobs.Digest(Salt, 0), TinyBlobs.Digest(Salt, stored / 2), TinyBlobs.Digest(Salt, stored - 1), TinyBlobs.Digest(Salt, count + 1) };
            var missing = new List<Digest>();
            await store.FindMissingAsync(CasPhase.Instance, asked, missing, cancellationToken).ConfigureAwait(false);
            lookupsOk = missing.Count == 1 && missing[0].Equals(asked[3]) && store.GetStats().Blobs == stored;
        }

        // Closed: the final fold-over checkpoint has written the whole FASTER log to index/log.
        var row = new IndexMemoryRow(
            count,
            stored,
            seconds,
            buckets,
            memoryBits,
            after.Managed - before.Managed,
            after.Rss - before.Rss,
            dir.SizeBytes(Path.Combine("index", "log")),
            dir.SizeBytes("segments"),
            lookupsOk,
            probe);
        _progress.WriteLine(FormattableString.Invariant(
            $"index: {row.Stored:N0} stored in {row.InsertSeconds:0.0} s ({row.InsertsPerSecond:0}/s): managed +{row.ManagedBytesDelta / 1e6:0.0} MB = {row.ManagedBytesPerBlob:0.0} B/blob, RSS +{row.RssBytesDelta / 1e6:0.0} MB = {row.RssBytesPerBlob:0.0} B/blob, FASTER log on disk {row.IndexLogBytesPerBlob:0.0} B/blob, lookups {(row.LookupsOk ? "ok" : "FAILED")}"));
        _progress.WriteLine(probe is null ? "index: FASTER structures not readable" : FormattableString.Invariant($"index: FASTER: {probe.IndexBuckets:N0} buckets + {probe.OverflowBuckets:N0} overflow, log pages {probe.LogMemoryBytes / 1e6:0.0} MB, log in memory {probe.LogInMemoryBytes / 1e6:0.0} of {probe.LogBytes / 1e6:0.0} MB, record {probe.RecordBytes} B"));
        return row;
    }
}
