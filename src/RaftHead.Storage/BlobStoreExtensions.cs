using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Storage;

public static class BlobStoreExtensions
{
    /// <summary>
    /// A whole blob in memory, or null when the store lacks it or it failed verification while read (and is gone now).
    /// For small blobs (messages): callers bound the size.
    /// </summary>
    public static async ValueTask<byte[]?> ReadAllAsync(this IBlobStore store, string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        Stream? stream = await store.OpenReadAsync(instanceName, digest, 0, 0, cancellationToken).ConfigureAwait(false);
        if (stream is null)
        {
            return null;
        }

        await using (stream.ConfigureAwait(false))
        {
            byte[] bytes = new byte[digest.SizeBytes];
            try
            {
                await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
            }
            catch (BlobCorruptException)
            {
                return null;
            }

            return bytes;
        }
    }
}
