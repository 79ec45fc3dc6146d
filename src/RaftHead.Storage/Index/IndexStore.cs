using System.Collections.Concurrent;
using FASTER.core;
using Microsoft.Extensions.Logging;
using RaftHead.Durability;
using IndexSession = FASTER.core.ClientSession<
    RaftHead.Storage.Index.IndexKey,
    RaftHead.Storage.Index.IndexValue,
    RaftHead.Storage.Index.IndexValue,
    RaftHead.Storage.Index.IndexValue,
    FASTER.core.Empty,
    FASTER.core.IFunctions<RaftHead.Storage.Index.IndexKey, RaftHead.Storage.Index.IndexValue, RaftHead.Storage.Index.IndexValue, RaftHead.Storage.Index.IndexValue, FASTER.core.Empty>>;

namespace RaftHead.Storage.Index;

/// <summary>
/// The FASTER KV holding digest to location, with a pool of sessions. FASTER sessions are cheap to keep
/// but not safe for concurrent use, so each operation rents one and gives it back. All operations are
/// synchronous: with the index log sized to memory they complete in place, and the rare one that goes
/// to disk is completed before the session is returned.
/// </summary>
internal sealed class IndexStore : IDisposable
{
    private readonly FasterKV<IndexKey, IndexValue> _kv;
    private readonly IDevice _device;
    private readonly SimpleFunctions<IndexKey, IndexValue, Empty> _functions = new();
    private readonly ConcurrentBag<IndexSession> _pool = [];
    private readonly ConcurrentQueue<IndexSession> _all = new();
    private int _disposed;

    private IndexStore(string directory, FasterBlobStoreOptions options)
    {
        string logDirectory = Path.Combine(directory, "log");
        string checkpointDirectory = Path.Combine(directory, "checkpoints");
        DurableDirectory.Create(logDirectory);
        DurableDirectory.Create(checkpointDirectory);
        CheckpointDirectory = checkpointDirectory;
        _device = Devices.CreateLogDevice(
            Path.Combine(logDirectory, "hlog.log"),
            preallocateFile: false,
            deleteOnClose: false,
            recoverDevice: true,
            disableFileBuffering: false);
        _kv = new FasterKV<IndexKey, IndexValue>(
            options.IndexBucketCount,
            new LogSettings
            {
                LogDevice = _device,
                PageSizeBits = options.IndexPageSizeBits,
                MemorySizeBits = options.IndexMemorySizeBits,
                SegmentSizeBits = Math.Max(options.IndexPageSizeBits + 1, 26),
            },
            new CheckpointSettings { CheckpointDir = checkpointDirectory, RemoveOutdated = true },
            serializerSettings: null,
            comparer: IndexKeyComparer.Instance);
    }

    public string CheckpointDirectory { get; }

    public long EntryCount => _kv.EntryCount;

    /// <summary>
    /// Opens the index in <paramref name="directory"/>, recovering its latest checkpoint. Returns the
    /// checkpoint's cookie, or null when starting empty (no checkpoint, or one that cannot be read,
    /// in which case the directory is wiped and the caller re-indexes every segment).
    /// </summary>
    public static IndexStore Open(string directory, FasterBlobStoreOptions options, ILogger logger, out byte[]? cookie)
    {
        cookie = null;
        string checkpoints = Path.Combine(directory, "checkpoints");
        bool hasCheckpoint = System.IO.Directory.Exists(checkpoints) && System.IO.Directory.EnumerateFileSystemEntries(checkpoints).Any();
        if (!hasCheckpoint)
        {
            WipeDirectory(directory);
            return new IndexStore(directory, options);
        }

        var store = new IndexStore(directory, options);
        try
        {
            store._kv.Recover();
            cookie = store._kv.RecoveredCommitCookie;
            return store;
        }
        catch (Exception e)
        {
            // The index is derived data: the segments can rebuild it. Losing it costs a full scan, not blobs.
            logger.LogWarning(e, "Index checkpoint in {IndexDirectory} could not be recovered; rebuilding from segments", directory);
            store.Dispose();
            WipeDirectory(directory);
            cookie = null;
            return new IndexStore(directory, options);
        }
    }

    public bool TryRead(ref IndexKey key, out IndexValue value)
    {
        var session = Rent();
        try
        {
            IndexValue input = default;
            IndexValue output = default;
            Status status = session.Read(ref key, ref input, ref output, Empty.Default, 0);
            if (status.IsPending)
            {
                session.CompletePendingWithOutputs(out var completed, wait: true);
                using (completed)
                {
                    if (completed.Next())
                    {
                        status = completed.Current.Status;
                        output = completed.Current.Output;
                    }
                }
            }

            value = output;
            return status.Found;
        }
        finally
        {
            Return(session);
        }
    }

    public void Upsert(ref IndexKey key, ref IndexValue value)
    {
        var session = Rent();
        try
        {
            Status status = session.Upsert(ref key, ref value, Empty.Default, 0);
            if (status.IsPending)
            {
                session.CompletePending(wait: true);
            }
        }
        finally
        {
            Return(session);
        }
    }

    public void Delete(ref IndexKey key)
    {
        var session = Rent();
        try
        {
            Status status = session.Delete(ref key, Empty.Default, 0);
            if (status.IsPending)
            {
                session.CompletePending(wait: true);
            }
        }
        finally
        {
            Return(session);
        }
    }

    /// <summary>Every live entry (FASTER's iterator skips superseded versions and tombstones).</summary>
    public List<(IndexKey Key, IndexValue Value)> Snapshot()
    {
        var entries = new List<(IndexKey, IndexValue)>();
        var session = Rent();
        try
        {
            using IFasterScanIterator<IndexKey, IndexValue> iterator = session.Iterate();
            while (iterator.GetNext(out RecordInfo _))
            {
                entries.Add((iterator.GetKey(), iterator.GetValue()));
            }
        }
        finally
        {
            Return(session);
        }

        return entries;
    }

    /// <summary>Takes a full fold-over checkpoint carrying <paramref name="cookie"/>.</summary>
    public async ValueTask<bool> CheckpointAsync(byte[] cookie, long compactBytes, CancellationToken cancellationToken)
    {
        if (_kv.Log.SafeReadOnlyAddress - _kv.Log.BeginAddress > compactBytes)
        {
            // Superseded index records pile up in the log; compaction copies live ones to the tail and the
            // checkpoint below then truncates the on-disk log to the new begin address.
            var session = Rent();
            try
            {
                session.Compact(_kv.Log.SafeReadOnlyAddress, CompactionType.Scan);
            }
            finally
            {
                Return(session);
            }
        }

        _kv.CommitCookie = cookie;
        (bool success, Guid _) = await _kv.TakeFullCheckpointAsync(CheckpointType.FoldOver, cancellationToken).ConfigureAwait(false);
        return success;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        while (_all.TryDequeue(out var session))
        {
            session.Dispose();
        }

        _kv.Dispose();
        _device.Dispose();
    }

    private static void WipeDirectory(string directory)
    {
        if (System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }

        DurableDirectory.Create(directory);
    }

    private IndexSession Rent()
    {
        if (_pool.TryTake(out var session))
        {
            return session;
        }

        session = _kv.NewSession<IndexValue, IndexValue, Empty>(_functions);
        _all.Enqueue(session);
        return session;
    }

    private void Return(IndexSession session) =>
        _pool.Add(session);
}
