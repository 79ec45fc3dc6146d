using Build.Bazel.Remote.Execution.V2;
using RaftHead.Storage;

namespace RaftHead.Head.Tests.Replication;

/// <summary>
/// The store a test head's services use, bound once every head is listening: a head's replicated store needs its
/// peers' ports, which port 0 makes known only after the servers start.
/// </summary>
internal sealed class LateBoundBlobStore : IBlobStore
{
    private IBlobStore? _target;

    public IBlobStore Target
    {
        get => _target ?? throw new InvalidOperationException("the head's store is not bound yet");
        set => _target = value;
    }

    public ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken) =>
        Target.FindMissingAsync(instanceName, digests, missing, cancellationToken);

    public ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        Target.PutAsync(instanceName, digest, data, cancellationToken);

    public IBlobWriter BeginWrite(string instanceName, Digest digest) => Target.BeginWrite(instanceName, digest);

    public ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken) =>
        Target.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken);

    public IDisposable Pin(string instanceName, Digest digest) => Target.Pin(instanceName, digest);
}
