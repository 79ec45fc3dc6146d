using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Durability;
using RaftHead.Protocol;
using RaftHead.Storage.Index;
using RaftHead.Storage.Segments;

namespace RaftHead.Storage;

/// <summary>
/// The content-addressed store of one head: a FASTER KV index (digest to segment, offset, length,
/// last access) over append-only segment files. See README.md for the on-disk layout, the crash-safety
/// argument and the eviction policy. Open with <see cref="OpenAsync"/>; dispose to checkpoint and close.
/// </summary>
/// <remarks>
/// Concurrency: every index read-modify-write for a key runs under one of <see cref="StripeCount"/>
/// striped locks, so "is it still where I saw it?" checks (eviction, relocation, corruption removal)
/// are atomic with the update. Appends to the shared segment are serialized by the append lock and made
/// durable by a group fsync before the index learns of them; a record is never visible before it is durable.
/// </remarks>
public sealed partial class FasterBlobStore : IBlobStore, IAsyncDisposable
{
    private const int StripeCount = 1024;

    // Eviction copies hot records forward; this bounds how many segments one eviction pass may touch
    // beyond those that existed when it started.
    private const int EvictionExtraRoundsMax = 4;

    private readonly FasterBlobStoreOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _segmentDirectory;
    private readonly string _tempDirectory;
    private readonly string _indexDirectory;

    private readonly Lock[] _stripes = new Lock[StripeCount];
    private readonly ConcurrentDictionary<long, SegmentFile> _segments = new();
    private readonly Lock _segmentOrderLock = new();
    private readonly SortedSet<long> _segmentOrder = [];
    private readonly ConcurrentDictionary<IndexKey, int> _pins = new();
    private readonly ConcurrentDictionary<IndexKey, Task> _inFlight = new();
    private readonly ConcurrentDictionary<string, NamespaceInfo> _casNamespaces = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, NamespaceInfo> _acNamespaces = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, NamespaceInfo> _namespacesById = new();

    private readonly SemaphoreSlim _appendLock = new(1, 1);
    private readonly SemaphoreSlim _evictLock = new(1, 1);
    private readonly SemaphoreSlim _checkpointLock = new(1, 1);
    private readonly CommitGate _gate = new();
    private readonly CancellationTokenSource _stopping = new();

    private DataDirectoryLock? _lock;
    private IndexStore _index = null!;
    private SegmentFile _active = null!;
    private Task _checkpointLoop = Task.CompletedTask;
    private long _latestSegmentId;
    private long _sequence;
    private long _diskBytes;
    private long _evictions;
    private long _corrupt;
    private int _disposed;

    private FasterBlobStore(FasterBlobStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.DataDirectory);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.SegmentBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BufferedBlobMaxBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(options.CheckpointIntervalMs);
        _options = options;
        _logger = options.Logger ?? NullLogger.Instance;
        _time = options.TimeProvider;
        _segmentDirectory = Path.Combine(options.DataDirectory, "segments");
        _tempDirectory = Path.Combine(options.DataDirectory, "tmp");
        _indexDirectory = Path.Combine(options.DataDirectory, "index");
        for (int i = 0; i < _stripes.Length; i++)
        {
            _stripes[i] = new Lock();
        }
    }

    /// <summary>Opens (recovering if needed) the store in <see cref="FasterBlobStoreOptions.DataDirectory"/>.</summary>
    public static async ValueTask<FasterBlobStore> OpenAsync(FasterBlobStoreOptions options, CancellationToken cancellationToken)
    {
        var store = new FasterBlobStore(options);
        try
        {
            await store.RecoverAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            store.CloseWithoutCheckpoint();
            throw;
        }

        if (options.CheckpointIntervalMs > 0)
        {
            store._checkpointLoop = store.CheckpointLoopAsync(store._stopping.Token);
        }

        return store;
    }

    /// <inheritdoc/>
    public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instanceName);
        ArgumentNullException.ThrowIfNull(digests);
        ArgumentNullException.ThrowIfNull(missing);
        ThrowIfDisposed();
        NamespaceInfo ns = GetNamespace(RecordKind.Cas, instanceName);
        for (int i = 0; i < digests.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Digest digest = digests[i];
            if (IsEmptyBlob(digest))
            {
                continue;
            }

            IndexKey key = MakeKey(ns, digest);
            if (!TouchIfPresent(ref key, out _))
            {
                missing.Add(digest);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public async ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instanceName);
        ThrowIfDisposed();
        NamespaceInfo ns = GetNamespace(RecordKind.Cas, instanceName);
        IndexKey key = MakeKey(ns, digest);
        VerifyContent(digest, key, data.Span);
        if (data.Length == 0)
        {
            return; // the empty blob is always present
        }

        if (data.Length <= _options.BufferedBlobMaxBytes)
        {
            await CommitOnceAsync(
                key,
                (Store: this, Ns: ns, Data: data),
                static (s, k, ct) => s.Store.AppendAndIndexAsync(s.Ns, RecordKind.Cas, k, s.Data, ct),
                cancellationToken).ConfigureAwait(false);
            await MaybeEvictAsync().ConfigureAwait(false);
            return;
        }

        // Already in memory, but too big for the shared segment: it gets a file of its own.
        string tempPath = NewTempPath();
        var file = File.OpenHandle(tempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        try
        {
            await RandomAccess.WriteAsync(file, data, RecordHeader.Size, cancellationToken).ConfigureAwait(false);
            await CommitStreamedAsync(ns, key, file, tempPath, data.Length, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            file.Dispose();
            DeleteQuietly(tempPath);
        }
    }

    /// <inheritdoc/>
    public IBlobWriter BeginWrite(string instanceName, Digest digest)
    {
        ArgumentNullException.ThrowIfNull(instanceName);
        ThrowIfDisposed();
        ThrowIfInvalid(digest);
        if (digest.SizeBytes <= _options.BufferedBlobMaxBytes)
        {
            return new BufferedBlobWriter(this, instanceName, digest);
        }

        NamespaceInfo ns = GetNamespace(RecordKind.Cas, instanceName);
        return new StreamedBlobWriter(this, ns, digest, MakeKey(ns, digest), NewTempPath());
    }

    /// <inheritdoc/>
    public async ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(instanceName);
        ThrowIfDisposed();
        ThrowIfInvalid(digest);
        if (offset < 0 || offset > digest.SizeBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"read offset must be within 0..{digest.SizeBytes}");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        if (IsEmptyBlob(digest))
        {
            return new MemoryStream([], writable: false);
        }

        NamespaceInfo ns = GetNamespace(RecordKind.Cas, instanceName);
        IndexKey key = MakeKey(ns, digest);
        long length = limit == 0 ? digest.SizeBytes - offset : Math.Min(limit, digest.SizeBytes - offset);
        return await OpenRecordAsync(key, offset, length, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Keeps a blob from being evicted until the returned handle is disposed (pins nest). Pin first, then
    /// check presence: a pin never brings a blob back, it only keeps one that is there.
    /// </summary>
    public IDisposable Pin(string instanceName, Digest digest)
    {
        ArgumentNullException.ThrowIfNull(instanceName);
        ThrowIfInvalid(digest);
        if (IsEmptyBlob(digest))
        {
            return BlobPin.None;
        }

        IndexKey key = MakeKey(GetNamespace(RecordKind.Cas, instanceName), digest);
        _pins.AddOrUpdate(key, 1, static (_, count) => count + 1);
        return new BlobPin(this, key);
    }

    /// <summary>A snapshot of the counters.</summary>
    public BlobStoreStats GetStats()
    {
        long blobs = 0;
        long bytes = 0;
        long actionResults = 0;
        var instances = new Dictionary<string, InstanceBlobStats>(StringComparer.Ordinal);
        foreach (NamespaceInfo ns in _namespacesById.Values)
        {
            string name = ns.InstanceName ?? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"#{ns.Id:x16}");
            instances.TryGetValue(name, out InstanceBlobStats? row);
            row ??= new InstanceBlobStats(0, 0, 0);
            if (ns.Kind == RecordKind.ActionResult)
            {
                actionResults += ns.Count;
                instances[name] = row with { ActionResults = row.ActionResults + ns.Count };
                continue;
            }

            blobs += ns.Count;
            bytes += ns.Bytes;
            instances[name] = row with { Blobs = row.Blobs + ns.Count, Bytes = row.Bytes + ns.Bytes };
        }

        return new BlobStoreStats(
            blobs,
            bytes,
            actionResults,
            Volatile.Read(ref _diskBytes),
            Volatile.Read(ref _evictions),
            Volatile.Read(ref _corrupt),
            instances);
    }

    /// <summary>Checkpoints the index and closes every file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopCheckpointLoopAsync().ConfigureAwait(false);
        try
        {
            await CheckpointCoreAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Not fatal: recovery re-scans the segment tails the last good checkpoint does not cover.
            _logger.LogError(e, "Final index checkpoint of {DataDirectory} failed", _options.DataDirectory);
        }

        await _active.SealAsync(CancellationToken.None).ConfigureAwait(false);
        CloseWithoutCheckpoint();
    }

    /// <summary>
    /// Drops everything as a <c>kill -9</c> would: no final checkpoint, no flush. For crash tests only.
    /// </summary>
    internal async ValueTask SimulateCrashAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopCheckpointLoopAsync().ConfigureAwait(false);
        CloseWithoutCheckpoint();
    }

    internal static bool IsEmptyBlob(Digest digest)
    {
        ThrowIfInvalid(digest);
        return Digests.IsEmptyBlob(digest);
    }

    internal static void ThrowIfInvalid(Digest? digest)
    {
        string? error = Digests.Validate(digest);
        if (error is not null)
        {
            throw new ArgumentException(error, nameof(digest));
        }
    }

    internal NamespaceInfo GetNamespace(RecordKind kind, string instanceName)
    {
        ConcurrentDictionary<string, NamespaceInfo> byName = kind == RecordKind.Cas ? _casNamespaces : _acNamespaces;
        if (byName.TryGetValue(instanceName, out NamespaceInfo? info))
        {
            return info;
        }

        long id = NamespaceId(kind, instanceName);
        info = _namespacesById.GetOrAdd(id, static (id, kind) => new NamespaceInfo(id, kind, null), kind);
        info.InstanceName ??= instanceName;
        return byName.GetOrAdd(instanceName, info);
    }

    internal static IndexKey MakeKey(NamespaceInfo ns, Digest digest)
    {
        ThrowIfInvalid(digest);
        Span<byte> hash = stackalloc byte[Digests.HashByteLength];
        Convert.FromHexString(digest.Hash, hash, out _, out _);
        return IndexKey.Create(ns.Id, hash, digest.SizeBytes);
    }

    internal string NewTempPath() => Path.Combine(_tempDirectory, Guid.NewGuid().ToString("N") + ".part");

    internal int BufferedBlobMaxBytes => _options.BufferedBlobMaxBytes;

    internal static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // A leftover temp file is removed at the next open.
        }
    }

    internal void Unpin(IndexKey key)
    {
        while (true)
        {
            int count = _pins[key];
            if (count == 1)
            {
                if (_pins.TryRemove(new KeyValuePair<IndexKey, int>(key, 1)))
                {
                    return;
                }
            }
            else if (_pins.TryUpdate(key, count - 1, count))
            {
                return;
            }
        }
    }

    private static long NamespaceId(RecordKind kind, string instanceName)
    {
        int length = Encoding.UTF8.GetByteCount(instanceName) + 1;
        byte[] buffer = new byte[length];
        buffer[0] = (byte)kind;
        Encoding.UTF8.GetBytes(instanceName, buffer.AsSpan(1));
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(buffer, hash);
        return BitConverter.ToInt64(hash);
    }

    /// <summary>Checks size and SHA-256 of in-memory content against its digest; throws the mismatch.</summary>
    private static void VerifyContent(Digest digest, IndexKey key, ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[Digests.HashByteLength];
        SHA256.HashData(data, hash);
        if (data.Length != digest.SizeBytes || !key.HashEquals(hash))
        {
            throw new BlobDigestMismatchException(digest, Convert.ToHexStringLower(hash), data.Length);
        }
    }

    /// <summary>False once disposed: what the health check reports.</summary>
    public bool IsOpen => Volatile.Read(ref _disposed) == 0;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private async ValueTask StopCheckpointLoopAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _checkpointLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Expected: the loop ends by cancellation.
        }
    }

    private void CloseWithoutCheckpoint()
    {
        _active?.Dispose();
        _index?.Dispose();
        _gate.Dispose();
        _lock?.Dispose(); // last: until every file is closed the directory is still ours
    }
}
