using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;

namespace RaftHead.Head.Tests.Replication;

/// <summary>
/// A head's local store as the replication tests see it: counts the blobs written into it and, when told to, serves
/// every blob with one byte flipped (a peer whose disk or memory went bad), while the bytes underneath stay right.
/// </summary>
internal sealed class ObservedBlobStore : IBlobStore
{
    private readonly IBlobStore _inner;
    private int _writes;

    public ObservedBlobStore(IBlobStore inner)
    {
        _inner = inner;
    }

    /// <summary>Blobs written (a put, or a streamed write's commit).</summary>
    public int Writes => Volatile.Read(ref _writes);

    public bool CorruptReads { get; init; }

    public async Task<bool> HoldsAsync(Digest digest)
    {
        var missing = new List<Digest>();
        await _inner.FindMissingAsync("", [digest], missing, CancellationToken.None);
        return missing.Count == 0;
    }

    public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) =>
        _inner.FindMissingAsync(instanceName, digests, missing, cancellationToken);

    public async ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _inner.PutAsync(instanceName, digest, data, cancellationToken);
        Interlocked.Increment(ref _writes);
    }

    public IBlobWriter BeginWrite(string instanceName, Digest digest) => new CountingWriter(this, _inner.BeginWrite(instanceName, digest));

    public async ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
    {
        var stream = await _inner.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken);
        if (stream is null || !CorruptReads)
        {
            return stream;
        }

        await using (stream)
        {
            var copy = new MemoryStream();
            await stream.CopyToAsync(copy, cancellationToken);
            var bytes = copy.ToArray();
            if (bytes.Length > 0)
            {
                bytes[bytes.Length / 2] ^= 0x5A;
            }

            return new MemoryStream(bytes, writable: false);
        }
    }

    public IDisposable Pin(string instanceName, Digest digest) => _inner.Pin(instanceName, digest);

    private sealed class CountingWriter(ObservedBlobStore owner, IBlobWriter inner) : IBlobWriter
    {
        public long BytesWritten => inner.BytesWritten;

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => inner.WriteAsync(data, cancellationToken);

        public async ValueTask CommitAsync(CancellationToken cancellationToken)
        {
            await inner.CommitAsync(cancellationToken);
            Interlocked.Increment(ref owner._writes);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
