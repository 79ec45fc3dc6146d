using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using RaftHead.Durability;
using RaftHead.Protocol;
using RaftHead.Storage.Index;
using RaftHead.Storage.Segments;

namespace RaftHead.Storage;

// Write paths. A record is appended, made durable, and only then put in the index: nothing is visible
// (or acknowledged) before it would survive a crash.
public sealed partial class FasterBlobStore
{
    /// <summary>
    /// Stores an action cache entry (no content addressing: the key is the action digest, a later put
    /// replaces an earlier one).
    /// </summary>
    internal async ValueTask PutActionResultAsync(string instanceName, Digest actionDigest, byte[] serialized, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        NamespaceInfo ns = GetNamespace(RecordKind.ActionResult, instanceName);
        IndexKey key = MakeKey(ns, actionDigest);
        if (serialized.Length <= _options.BufferedBlobMaxBytes)
        {
            await AppendAndIndexAsync(ns, RecordKind.ActionResult, key, serialized, cancellationToken).ConfigureAwait(false);
            await MaybeEvictAsync().ConfigureAwait(false);
            return;
        }

        string tempPath = NewTempPath();
        var file = File.OpenHandle(tempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        try
        {
            await RandomAccess.WriteAsync(file, serialized, RecordHeader.Size, cancellationToken).ConfigureAwait(false);
            await CommitBlobFileCoreAsync(ns, RecordKind.ActionResult, key, file, tempPath, serialized.Length, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            file.Dispose();
            DeleteQuietly(tempPath);
        }
    }

    /// <summary>Commits a verified streamed CAS blob whose bytes sit in <paramref name="tempPath"/> after the header gap.</summary>
    internal async ValueTask CommitStreamedAsync(NamespaceInfo ns, IndexKey key, SafeFileHandle file, string tempPath, long sizeBytes, CancellationToken cancellationToken)
    {
        await CommitOnceAsync(
            key,
            (Store: this, Ns: ns, File: file, TempPath: tempPath, Size: sizeBytes),
            static (s, k, ct) => s.Store.CommitBlobFileCoreAsync(s.Ns, RecordKind.Cas, k, s.File, s.TempPath, s.Size, ct),
            cancellationToken).ConfigureAwait(false);
        await MaybeEvictAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Stores a CAS record at most once however many callers offer it at the same time: the first does
    /// the write, the others wait for it and then find the blob present. If the first fails, a waiter
    /// tries in its place.
    /// </summary>
    private async ValueTask CommitOnceAsync<TState>(
        IndexKey key,
        TState state,
        Func<TState, IndexKey, CancellationToken, ValueTask> write,
        CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TouchIfPresent(ref key, out _))
            {
                return;
            }

            var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task owner = _inFlight.GetOrAdd(key, mine.Task);
            if (owner != mine.Task)
            {
                // The owner's task always completes successfully (it only signals "look again").
                await owner.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            try
            {
                if (TouchIfPresent(ref key, out _))
                {
                    return;
                }

                await write(state, key, cancellationToken).ConfigureAwait(false);
                return;
            }
            finally
            {
                _inFlight.TryRemove(new KeyValuePair<IndexKey, Task>(key, mine.Task));
                mine.TrySetResult();
            }
        }
    }

    private async ValueTask AppendAndIndexAsync(NamespaceInfo ns, RecordKind kind, IndexKey key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        byte[] header = new byte[RecordHeader.Size];
        long sequence = Interlocked.Increment(ref _sequence);
        WriteHeader(header, kind, key, data.Span, sequence);

        await _gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            (SegmentFile segment, long offset) = await AppendRecordAsync(header, data, cancellationToken).ConfigureAwait(false);

            // From here on the record is in the file: finish publishing it even if the caller gives up,
            // so that what recovery would find and what the index says stay the same.
            try
            {
                await segment.FlushToAsync(offset + RecordHeader.Size + data.Length, CancellationToken.None).ConfigureAwait(false);
                var value = new IndexValue
                {
                    SegmentId = segment.Id,
                    Offset = offset,
                    DataLength = data.Length,
                    LastAccessTick = segment.Id,
                    Sequence = sequence,
                };
                InsertIndex(ref key, value, newSegment: null);
            }
            finally
            {
                segment.EndCommit();
            }
        }
        finally
        {
            _gate.Exit();
        }
    }

    /// <summary>Appends a record (header bytes and data) to the active shared segment, rolling over when full.</summary>
    private async ValueTask<(SegmentFile Segment, long Offset)> AppendRecordAsync(ReadOnlyMemory<byte> header, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        long recordBytes = header.Length + data.Length;
        await _appendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            SegmentFile segment = _active;
            if (segment.Length > 0 && segment.Length + recordBytes > _options.SegmentBytes)
            {
                segment = await RollOverAsync().ConfigureAwait(false);
            }

            long offset = segment.Length;
            segment.Append(header.Span, data.Span);
            segment.BeginCommit();
            Interlocked.Add(ref _diskBytes, recordBytes);
            return (segment, offset);
        }
        finally
        {
            _appendLock.Release();
        }
    }

    /// <summary>Seals the active segment and starts the next. Caller holds the append lock.</summary>
    private async ValueTask<SegmentFile> RollOverAsync()
    {
        SegmentFile next = SegmentFile.CreateShared(_segmentDirectory, NextSegmentId());
        AddSegment(next);
        SegmentFile previous = _active;
        _active = next;
        await previous.SealAsync(CancellationToken.None).ConfigureAwait(false);
        return next;
    }

    /// <summary>
    /// Writes the header into the gap at the start of the temp file, makes it durable, and renames it into
    /// the segment directory under a fresh id: the blob appears whole or not at all.
    /// </summary>
    private async ValueTask CommitBlobFileCoreAsync(NamespaceInfo ns, RecordKind kind, IndexKey key, SafeFileHandle file, string tempPath, long dataLength, CancellationToken cancellationToken)
    {
        byte[] header = new byte[RecordHeader.Size];
        long sequence = Interlocked.Increment(ref _sequence);
        if (kind == RecordKind.Cas)
        {
            WriteCasHeader(header, key, dataLength, sequence);
        }
        else
        {
            await WriteHeaderFromFileAsync(header, kind, key, file, dataLength, sequence, cancellationToken).ConfigureAwait(false);
        }

        await RandomAccess.WriteAsync(file, header, 0, cancellationToken).ConfigureAwait(false);
        RandomAccess.FlushToDisk(file);
        file.Dispose();

        await _gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            long id = NextSegmentId();
            string path = Path.Combine(_segmentDirectory, SegmentFile.FileName(id, isShared: false));
            File.Move(tempPath, path);
            DurableDirectory.Sync(_segmentDirectory);
            var segment = SegmentFile.OpenSealed(path, id, isShared: false, RecordHeader.Size + dataLength);
            Interlocked.Add(ref _diskBytes, segment.Length);
            var value = new IndexValue
            {
                SegmentId = id,
                Offset = 0,
                DataLength = dataLength,
                LastAccessTick = id,
                Sequence = sequence,
            };
            InsertIndex(ref key, value, segment);
            _logger.LogDebug("Stored {Kind} record of {SizeBytes} bytes in blob segment {SegmentId} for namespace {Namespace}", kind, dataLength, id, ns.Id);
        }
        finally
        {
            _gate.Exit();
        }
    }

    private static async ValueTask WriteHeaderFromFileAsync(byte[] header, RecordKind kind, IndexKey key, SafeFileHandle file, long dataLength, long sequence, CancellationToken cancellationToken)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            long position = 0;
            while (position < dataLength)
            {
                int want = (int)Math.Min(buffer.Length, dataLength - position);
                int read = await RandomAccess.ReadAsync(file, buffer.AsMemory(0, want), RecordHeader.Size + position, cancellationToken).ConfigureAwait(false);
                if (read <= 0)
                {
                    throw new IOException("temp file shorter than the data written to it");
                }

                sha.AppendData(buffer, 0, read);
                position += read;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }

        byte[] hash = sha.GetHashAndReset();
        RecordHeader.Create(kind, key, dataLength, hash, sequence).Write(header);
    }

    private static void WriteHeader(Span<byte> destination, RecordKind kind, IndexKey key, ReadOnlySpan<byte> data, long sequence)
    {
        Span<byte> hash = stackalloc byte[Digests.HashByteLength];
        if (kind == RecordKind.Cas)
        {
            key.WriteHash(hash); // verified equal to the data's SHA-256 before we got here
        }
        else
        {
            SHA256.HashData(data, hash);
        }

        RecordHeader.Create(kind, key, data.Length, hash, sequence).Write(destination);
    }

    private static void WriteCasHeader(Span<byte> destination, IndexKey key, long dataLength, long sequence)
    {
        Span<byte> hash = stackalloc byte[Digests.HashByteLength];
        key.WriteHash(hash);
        RecordHeader.Create(RecordKind.Cas, key, dataLength, hash, sequence).Write(destination);
    }
}
