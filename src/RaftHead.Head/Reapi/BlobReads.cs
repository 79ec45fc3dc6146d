using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Storage;

namespace RaftHead.Head.Reapi;

internal static class BlobReads
{
    /// <summary>A whole (small) blob as one ByteString, or null if the store lacks it.</summary>
    public static async ValueTask<ByteString?> ReadAllAsync(this IBlobStore store, string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(instanceName, digest, 0, 0, cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        var buffer = new byte[digest.SizeBytes];
        await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        return UnsafeByteOperations.UnsafeWrap(buffer);
    }
}
