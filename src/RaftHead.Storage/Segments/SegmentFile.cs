using Microsoft.Win32.SafeHandles;
using RaftHead.Durability;

namespace RaftHead.Storage.Segments;

/// <summary>
/// One append-only segment file. A shared segment holds many small records and is appended to while
/// it is the active one; a blob segment holds exactly one large record and is never appended to.
/// The file name is the id, so ids are never reused (see <see cref="FasterBlobStore"/>).
/// </summary>
internal sealed class SegmentFile : IDisposable
{
    public const string SharedExtension = ".seg";
    public const string BlobExtension = ".blob";

    private readonly SemaphoreSlim _flushLock = new(1, 1);
    private SafeFileHandle? _writeHandle;
    private long _length;
    private long _durableLength;
    private int _pendingCommits;

    private SegmentFile(long id, string path, bool isShared, long length, SafeFileHandle? writeHandle)
    {
        Id = id;
        Path = path;
        IsShared = isShared;
        _length = length;
        _durableLength = length;
        _writeHandle = writeHandle;
    }

    public long Id { get; }

    public string Path { get; }

    public bool IsShared { get; }

    /// <summary>Bytes written; every byte below it has been written (appends are sequential).</summary>
    public long Length => Volatile.Read(ref _length);

    public static string FileName(long id, bool isShared) =>
        id.ToString("D16", System.Globalization.CultureInfo.InvariantCulture) + (isShared ? SharedExtension : BlobExtension);

    /// <summary>Creates the next active shared segment, empty and open for appends.</summary>
    public static SegmentFile CreateShared(string directory, long id)
    {
        string path = System.IO.Path.Combine(directory, FileName(id, isShared: true));
        SafeFileHandle handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        DurableDirectory.Sync(directory);
        return new SegmentFile(id, path, isShared: true, length: 0, handle);
    }

    /// <summary>A sealed segment found on disk (or just renamed into place): read-only from now on.</summary>
    public static SegmentFile OpenSealed(string path, long id, bool isShared, long length) =>
        new(id, path, isShared, length, writeHandle: null);

    /// <summary>
    /// True while a record appended here is not yet in the index. Eviction leaves such a segment alone:
    /// it would find the record unreferenced and drop a blob about to be acknowledged.
    /// </summary>
    public bool HasPendingCommits => Volatile.Read(ref _pendingCommits) != 0;

    public void BeginCommit() => Interlocked.Increment(ref _pendingCommits);

    public void EndCommit() => Interlocked.Decrement(ref _pendingCommits);

    /// <summary>Appends one record. The caller serializes appends (the store's append lock).</summary>
    public void Append(ReadOnlySpan<byte> header, ReadOnlySpan<byte> data)
    {
        SafeFileHandle handle = _writeHandle ?? throw new InvalidOperationException($"segment {Id} is sealed");
        long offset = _length;
        RandomAccess.Write(handle, header, offset);
        if (!data.IsEmpty)
        {
            RandomAccess.Write(handle, data, offset + header.Length);
        }

        Volatile.Write(ref _length, offset + header.Length + data.Length);
    }

    /// <summary>
    /// Makes every byte below <paramref name="end"/> durable. Group commit: writers that queue behind
    /// one fsync find their bytes covered by it and return without another.
    /// </summary>
    public async ValueTask FlushToAsync(long end, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _durableLength) >= end)
        {
            return;
        }

        await _flushLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_durableLength >= end)
            {
                return;
            }

            long target = Length;
            SafeFileHandle handle = _writeHandle ?? throw new InvalidOperationException($"segment {Id} sealed before flush");
            RandomAccess.FlushToDisk(handle);
            Volatile.Write(ref _durableLength, target);
        }
        finally
        {
            _flushLock.Release();
        }
    }

    /// <summary>Flushes everything and closes the write handle; later flush requests find their bytes durable.</summary>
    public async ValueTask SealAsync(CancellationToken cancellationToken)
    {
        await _flushLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_writeHandle is { } handle)
            {
                RandomAccess.FlushToDisk(handle);
                Volatile.Write(ref _durableLength, Length);
                handle.Dispose();
                _writeHandle = null;
            }
        }
        finally
        {
            _flushLock.Release();
        }
    }

    /// <summary>Closes the write handle without flushing (used to simulate a crash in tests).</summary>
    public void Dispose()
    {
        _writeHandle?.Dispose();
        _writeHandle = null;
    }
}
