using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Microsoft.Win32.SafeHandles;
using RaftHead.Storage.Index;
using RaftHead.Storage.Segments;

namespace RaftHead.Storage;

/// <summary>
/// A streamed write of a large blob: bytes go straight to a temp file (after a gap for the record
/// header) and into an incremental SHA-256, so the blob is never whole in memory. Commit verifies and
/// renames the file into the segment directory; dispose without commit deletes it.
/// </summary>
internal sealed class StreamedBlobWriter : IBlobWriter
{
    private readonly FasterBlobStore _store;
    private readonly NamespaceInfo _namespace;
    private readonly Digest _digest;
    private readonly IndexKey _key;
    private readonly string _tempPath;
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private SafeFileHandle? _file;
    private long _written;
    private bool _done;

    public StreamedBlobWriter(FasterBlobStore store, NamespaceInfo ns, Digest digest, IndexKey key, string tempPath)
    {
        _store = store;
        _namespace = ns;
        _digest = digest;
        _key = key;
        _tempPath = tempPath;
        _file = File.OpenHandle(tempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
    }

    public long BytesWritten => _written;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        SafeFileHandle file = _file ?? throw new ObjectDisposedException(nameof(StreamedBlobWriter));
        if (_done)
        {
            throw new InvalidOperationException("blob already committed");
        }

        if (_written + data.Length > _digest.SizeBytes)
        {
            _sha.AppendData(data.Span);
            long received = _written + data.Length;
            Discard();
            throw new BlobDigestMismatchException(_digest, Convert.ToHexStringLower(_sha.GetHashAndReset()), received);
        }

        // The chunk is hashed while the file system takes it: one pass over the bytes, two things at once.
        ValueTask write = RandomAccess.WriteAsync(file, data, RecordHeader.Size + _written, cancellationToken);
        _sha.AppendData(data.Span);
        await write.ConfigureAwait(false);
        _written += data.Length;
    }

    public async ValueTask CommitAsync(CancellationToken cancellationToken)
    {
        SafeFileHandle file = _file ?? throw new ObjectDisposedException(nameof(StreamedBlobWriter));
        if (_done)
        {
            return;
        }

        byte[] hash = _sha.GetHashAndReset();
        if (_written != _digest.SizeBytes || !_key.HashEquals(hash))
        {
            Discard();
            throw new BlobDigestMismatchException(_digest, Convert.ToHexStringLower(hash), _written);
        }

        try
        {
            await _store.CommitStreamedAsync(_namespace, _key, file, _tempPath, _written, cancellationToken).ConfigureAwait(false);
            _done = true;
        }
        finally
        {
            Discard();
        }
    }

    public ValueTask DisposeAsync()
    {
        Discard();
        _sha.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Discard()
    {
        _file?.Dispose();
        _file = null;
        FasterBlobStore.DeleteQuietly(_tempPath);
    }
}
