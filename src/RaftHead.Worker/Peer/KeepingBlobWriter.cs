using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Microsoft.Extensions.Logging;
using RaftHead.Storage;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Worker.Peer;

/// <summary>
/// A write to the heads that also keeps a copy in the worker's cache, adopted only once the heads committed the blob
/// and the copy hashes to its digest. Keeping is best effort: a failing copy never fails the write.
/// </summary>
internal sealed class KeepingBlobWriter : IBlobWriter
{
    private readonly IBlobWriter _inner;
    private readonly FileCache _cache;
    private readonly Digest _digest;
    private readonly ILogger _logger;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly string _temp;
    private FileStream? _copy;
    private long _copied;

    public KeepingBlobWriter(IBlobWriter inner, FileCache cache, Digest digest, ILogger logger)
    {
        _inner = inner;
        _cache = cache;
        _digest = digest;
        _logger = logger;
        _temp = cache.NewTempPath();
        try
        {
            _copy = new FileStream(_temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Drop(e);
        }
    }

    public long BytesWritten => _inner.BytesWritten;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _inner.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        if (_copy is null)
        {
            return;
        }

        try
        {
            _hash.AppendData(data.Span);
            await _copy.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            _copied += data.Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Drop(e);
        }
    }

    public async ValueTask CommitAsync(CancellationToken cancellationToken)
    {
        await _inner.CommitAsync(cancellationToken).ConfigureAwait(false);
        if (_copy is not { } copy)
        {
            return;
        }

        _copy = null;
        try
        {
            await copy.DisposeAsync().ConfigureAwait(false);
            if (_copied == _digest.SizeBytes && string.Equals(Convert.ToHexStringLower(_hash.GetHashAndReset()), _digest.Hash, StringComparison.Ordinal))
            {
                _cache.Adopt(_temp, _digest);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Drop(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        if (_copy is not null)
        {
            await _copy.DisposeAsync().ConfigureAwait(false);
            _copy = null;
        }

        File.Delete(_temp);
        _hash.Dispose();
    }

    private void Drop(Exception e)
    {
        _copy?.Dispose();
        _copy = null;
        _logger.LogWarning("Blob {Hash}/{Size} goes to the heads but is not kept for peers: {Error}", _digest.Hash, _digest.SizeBytes, e.Message);
    }
}
