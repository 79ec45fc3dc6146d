using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage;

/// <summary>
/// Puts a store whose bytes are not trusted (another head, reached over the network) behind the one check every read
/// from it needs: each read is a <see cref="VerifyingReadStream"/>, so a whole read that delivers other bytes than the
/// blob fails at its end with <see cref="BlobVerificationException"/> and a part is held to its length. Writes, presence
/// and pins pass through: a store verifies what it is given itself (<see cref="IBlobStore.PutAsync"/>).
/// </summary>
public sealed class VerifyingBlobStore : IBlobStore
{
    private readonly IBlobStore _inner;
    private readonly Func<string> _source;

    /// <param name="inner">The store read from.</param>
    /// <param name="source">Names where a read's bytes came from, asked right after the read opened (a store that moves between endpoints names the current one).</param>
    public VerifyingBlobStore(IBlobStore inner, Func<string> source)
    {
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        _source = source ?? throw new ArgumentNullException(nameof(source));
    }

    public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) =>
        _inner.FindMissingAsync(instanceName, digests, missing, cancellationToken);

    public ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        _inner.PutAsync(instanceName, digest, data, cancellationToken);

    public IBlobWriter BeginWrite(string instanceName, Digest digest) => _inner.BeginWrite(instanceName, digest);

    public IDisposable Pin(string instanceName, Digest digest) => _inner.Pin(instanceName, digest);

    public async ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken)
    {
        var stream = await _inner.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken).ConfigureAwait(false);
        return stream is null ? null : new VerifyingReadStream(stream, digest, offset, limit, _source());
    }
}
