using System.Buffers;
using System.Security.Cryptography;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Protocol;
using RaftHead.Storage;

namespace RaftHead.Worker.Sandbox;

/// <summary>Puts files and messages into the CAS and returns their digests.</summary>
public sealed class BlobUploader
{
    private const int InMemoryMaxBytes = 1 << 20;
    private const int ChunkBytes = 1 << 16;

    private readonly IBlobStore _store;
    private readonly string _instanceName;

    public BlobUploader(IBlobStore store, string instanceName)
    {
        _store = store;
        _instanceName = instanceName;
    }

    public async Task<Digest> UploadFileAsync(string path, CancellationToken cancellationToken)
    {
        var length = new FileInfo(path).Length;
        if (length <= InMemoryMaxBytes)
        {
            return await UploadBytesAsync(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }

        // Large: hash in one pass, stream into the store in a second; never the whole file in memory.
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            Digest digest;
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            await using (var read = OpenRead(path))
            {
                long total = 0;
                int n;
                while ((n = await read.ReadAsync(buffer.AsMemory(0, ChunkBytes), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    total += n;
                }

                var sha = hash.GetHashAndReset();
                digest = Digests.FromHash(sha, total);
            }

            var missing = new List<Digest>(1);
            await _store.FindMissingAsync(_instanceName, new[] { digest }, missing, cancellationToken).ConfigureAwait(false);
            if (missing.Count == 0)
            {
                return digest;
            }

            await using var writer = _store.BeginWrite(_instanceName, digest);
            await using (var read = OpenRead(path))
            {
                int n;
                while ((n = await read.ReadAsync(buffer.AsMemory(0, ChunkBytes), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    await writer.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                }
            }

            // A file the action changed between the passes fails verification here rather than storing a lie.
            await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
            return digest;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public Task<Digest> UploadMessageAsync(IMessage message, CancellationToken cancellationToken) =>
        UploadBytesAsync(message.ToByteArray(), cancellationToken);

    public async Task<Digest> UploadBytesAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var digest = Digests.Compute(bytes.Span);
        await _store.PutAsync(_instanceName, digest, bytes, cancellationToken).ConfigureAwait(false);
        return digest;
    }

    private static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
}
