using System.Buffers;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using RaftHead.Protocol;
using RaftHead.Storage.Index;
using RaftHead.Storage.Segments;

namespace RaftHead.Storage;

// Read paths. Small records are checked against the SHA-256 in their header before they are handed out; a
// whole read of a large blob is checked as it streams, and its last read throws BlobCorruptException
// instead of ending when the bytes are wrong, so a corrupt blob never completes a read. A mismatch is
// counted and removed, and the blob is absent from then on. A partial read of a large blob checks the
// header only (see README.md).
public sealed partial class FasterBlobStore
{
    // A read can race with eviction moving its record; it looks the key up again this many times.
    private const int ReadAttemptsMax = 4;
    private const int HashBufferBytes = 1 << 20;

    private enum OpenOutcome
    {
        Opened,
        Moved,
        Corrupt,
    }

    /// <summary>The serialized ActionResult stored for the key, or null.</summary>
    internal async ValueTask<byte[]?> ReadActionResultAsync(string instanceName, Digest actionDigest, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        NamespaceInfo ns = GetNamespace(RecordKind.ActionResult, instanceName);
        IndexKey key = MakeKey(ns, actionDigest);
        for (int attempt = 0; attempt < ReadAttemptsMax; attempt++)
        {
            if (!TouchIfPresent(ref key, out IndexValue value))
            {
                return null;
            }

            (OpenOutcome outcome, Stream? stream) = await TryOpenAsync(key, value, 0, value.DataLength, cancellationToken).ConfigureAwait(false);
            if (outcome == OpenOutcome.Corrupt)
            {
                RemoveCorrupt(ref key, value);
                return null;
            }

            if (stream is not null)
            {
                await using (stream.ConfigureAwait(false))
                {
                    byte[] result = new byte[value.DataLength];
                    await stream.ReadExactlyAsync(result, cancellationToken).ConfigureAwait(false);
                    return result;
                }
            }
        }

        return null;
    }

    private async ValueTask<Stream?> OpenRecordAsync(IndexKey key, long offset, long length, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < ReadAttemptsMax; attempt++)
        {
            if (!TouchIfPresent(ref key, out IndexValue value))
            {
                return null;
            }

            (OpenOutcome outcome, Stream? stream) = await TryOpenAsync(key, value, offset, length, cancellationToken).ConfigureAwait(false);
            switch (outcome)
            {
                case OpenOutcome.Opened:
                    return stream;
                case OpenOutcome.Corrupt:
                    RemoveCorrupt(ref key, value);
                    return null;
                default:
                    continue;
            }
        }

        return null;
    }

    private async ValueTask<(OpenOutcome Outcome, Stream? Stream)> TryOpenAsync(IndexKey key, IndexValue value, long offset, long length, CancellationToken cancellationToken)
    {
        if (!_segments.TryGetValue(value.SegmentId, out SegmentFile? segment))
        {
            return (OpenOutcome.Moved, null);
        }

        SafeFileHandle file;
        try
        {
            file = File.OpenHandle(segment.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException)
        {
            return (OpenOutcome.Moved, null);
        }

        bool handedOver = false;
        try
        {
            byte[] headerBytes = new byte[RecordHeader.Size];
            int headerRead = await ReadFullyAsync(file, headerBytes, value.Offset, cancellationToken).ConfigureAwait(false);
            if (headerRead < RecordHeader.Size
                || !RecordHeader.TryRead(headerBytes, out RecordHeader header)
                || !header.Key.Equals(key)
                || header.DataLength != value.DataLength)
            {
                return (OpenOutcome.Corrupt, null);
            }

            long dataStart = value.Offset + RecordHeader.Size;
            if (value.DataLength <= _options.BufferedBlobMaxBytes)
            {
                byte[] data = GC.AllocateUninitializedArray<byte>((int)value.DataLength);
                int read = await ReadFullyAsync(file, data, dataStart, cancellationToken).ConfigureAwait(false);
                if (read != data.Length || !HashMatches(data, header))
                {
                    return (OpenOutcome.Corrupt, null);
                }

                return (OpenOutcome.Opened, new MemoryStream(data, (int)offset, (int)length, writable: false));
            }

            handedOver = true;
            var segmentStream = new SegmentReadStream(file, dataStart + offset, length);
            if (offset != 0 || length != value.DataLength)
            {
                return (OpenOutcome.Opened, segmentStream);
            }

            // A whole read is verified as it streams: the last read throws rather than ends if the bytes are wrong.
            IndexKey corruptKey = key;
            return (OpenOutcome.Opened, new VerifyingReadStream(segmentStream, header.DataSha(), value.DataLength, _ =>
            {
                RemoveCorrupt(ref corruptKey, value);
                return new BlobCorruptException(value.DataLength);
            }));
        }
        finally
        {
            if (!handedOver)
            {
                file.Dispose();
            }
        }
    }

    /// <summary>Removes a record that failed verification, if the index still points at it, and counts it.</summary>
    private void RemoveCorrupt(ref IndexKey key, IndexValue value)
    {
        if (!RemoveIfAt(ref key, value.SegmentId, value.Offset))
        {
            return;
        }

        Interlocked.Increment(ref _corrupt);
        _logger.LogWarning(
            "Record in segment {SegmentId} at offset {Offset} ({SizeBytes} bytes) failed verification; removed",
            value.SegmentId,
            value.Offset,
            value.DataLength);

        // A blob segment holds nothing else: reclaim it now rather than when it ages out.
        if (_segments.TryGetValue(value.SegmentId, out SegmentFile? segment) && !segment.IsShared)
        {
            if (RemoveSegment(segment))
            {
                DeleteQuietly(segment.Path);
            }
        }
    }

    private static bool HashMatches(ReadOnlySpan<byte> data, in RecordHeader header)
    {
        Span<byte> hash = stackalloc byte[Digests.HashByteLength];
        SHA256.HashData(data, hash);
        return header.DataShaEquals(hash);
    }

    private static async ValueTask<bool> FileHashMatchesAsync(SafeFileHandle file, long start, long length, RecordHeader header, CancellationToken cancellationToken)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(HashBufferBytes);
        try
        {
            long position = 0;
            while (position < length)
            {
                int want = (int)Math.Min(buffer.Length, length - position);
                int read = await RandomAccess.ReadAsync(file, buffer.AsMemory(0, want), start + position, cancellationToken).ConfigureAwait(false);
                if (read <= 0)
                {
                    return false;
                }

                sha.AppendData(buffer, 0, read);
                position += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return header.DataShaEquals(sha.GetHashAndReset());
    }

    private static async ValueTask<int> ReadFullyAsync(SafeFileHandle file, Memory<byte> buffer, long offset, CancellationToken cancellationToken)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = await RandomAccess.ReadAsync(file, buffer[total..], offset + total, cancellationToken).ConfigureAwait(false);
            if (read <= 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }
}
