using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Bench.Worker;

/// <summary>
/// Whole reads answered with the holder's own cache file, in this process: a fetch through it is the reader's cache
/// work alone (temp file, copy, mode, rename), with no network and no verification. Read-only.
/// </summary>
internal sealed class HolderFileStore(FileCache holder) : IBlobStore
{
    public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public IBlobWriter BeginWrite(string instanceName, Digest digest) => throw new NotSupportedException();

    public ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken) =>
        ValueTask.FromResult<Stream?>(offset == 0 && limit == 0 ? holder.TryOpenRead(digest) : throw new NotSupportedException());

    public IDisposable Pin(string instanceName, Digest digest) => throw new NotSupportedException();
}
