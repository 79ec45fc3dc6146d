using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Storage.Remote;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// Puts blobs into a head's CAS the way REAPI clients should: asks which are missing first, then sends only those;
/// small ones packed into BatchUpdateBlobs calls no larger than the server's max_batch_total_size_bytes, larger ones
/// over ByteStream Write (through <see cref="RemoteBlobStore"/>), streamed from their files.
/// </summary>
internal sealed class CasUploader
{
    /// <summary>Used when the server sets no batch limit: REAPI's usual 4 MiB.</summary>
    public const long DefaultBatchBytesMax = 4L * 1024 * 1024;

    /// <summary>Room per blob in a batch for its digest and framing, so a packed batch stays under the limit.</summary>
    private const int PerBlobOverheadBytes = 256;

    /// <summary>Digests per FindMissingBlobs call: far below any message limit.</summary>
    private const int FindMissingChunk = 10_000;

    private const int ParallelUploads = 4;
    private const int StreamChunkBytes = 256 * 1024;
    private const int CallTimeoutMs = 60_000;

    private readonly HeadConnection _heads;
    private readonly string _instanceName;

    public CasUploader(HeadConnection heads, string instanceName)
    {
        _heads = heads;
        _instanceName = instanceName;
    }

    public async Task<UploadReport> UploadAsync(IReadOnlyDictionary<Digest, BlobSource> blobs, CancellationToken cancellationToken)
    {
        var wanted = blobs.Keys.Where(d => !Digests.IsEmptyBlob(d)).ToList();
        var missing = new List<Digest>();
        for (var i = 0; i < wanted.Count; i += FindMissingChunk)
        {
            var request = new FindMissingBlobsRequest { InstanceName = _instanceName };
            request.BlobDigests.AddRange(wanted.Skip(i).Take(FindMissingChunk));
            var response = await _heads.CallAsync(
                (invoker, token) => new ContentAddressableStorage.ContentAddressableStorageClient(invoker).FindMissingBlobsAsync(request, Options(token)).ResponseAsync,
                cancellationToken).ConfigureAwait(false);
            missing.AddRange(response.MissingBlobDigests);
        }

        if (missing.Count == 0)
        {
            return new UploadReport(wanted.Count, 0, 0, 0);
        }

        var batchBytesMax = await BatchBytesMaxAsync(cancellationToken).ConfigureAwait(false);
        var smallMax = Math.Max(1, batchBytesMax - PerBlobOverheadBytes);
        var work = new List<IReadOnlyList<Digest>>();
        var batch = new List<Digest>();
        long batchBytes = 0;
        foreach (var digest in missing.OrderBy(d => d.SizeBytes))
        {
            if (!blobs.ContainsKey(digest))
            {
                throw new InvalidOperationException($"the head asked for blob {Digests.ToResourceString(digest)}, which was not offered");
            }

            if (digest.SizeBytes > smallMax)
            {
                work.Add([digest]);
                continue;
            }

            if (batchBytes + digest.SizeBytes + PerBlobOverheadBytes > batchBytesMax)
            {
                work.Add(batch);
                batch = [];
                batchBytes = 0;
            }

            batch.Add(digest);
            batchBytes += digest.SizeBytes + PerBlobOverheadBytes;
        }

        if (batch.Count > 0)
        {
            work.Add(batch);
        }

        var store = new RemoteBlobStore(_heads, new RemoteBlobStoreOptions
        {
            BatchBlobMaxBytes = (int)Math.Min(smallMax, 4L * 1024 * 1024),
            WriteChunkBytes = StreamChunkBytes,
            CallTimeoutMs = CallTimeoutMs,
        });
        long bytes = 0;
        var streamed = 0;
        await Parallel.ForEachAsync(
            work,
            new ParallelOptions { MaxDegreeOfParallelism = ParallelUploads, CancellationToken = cancellationToken },
            async (item, token) =>
            {
                if (item.Count == 1 && item[0].SizeBytes > smallMax)
                {
                    await StreamAsync(store, item[0], blobs[item[0]], token).ConfigureAwait(false);
                    Interlocked.Increment(ref streamed);
                }
                else
                {
                    await BatchAsync(item, blobs, token).ConfigureAwait(false);
                }

                Interlocked.Add(ref bytes, item.Sum(d => d.SizeBytes));
            }).ConfigureAwait(false);
        return new UploadReport(wanted.Count, missing.Count, bytes, streamed);
    }

    private async Task<long> BatchBytesMaxAsync(CancellationToken cancellationToken)
    {
        var capabilities = await _heads.CallAsync(
            (invoker, token) => new Capabilities.CapabilitiesClient(invoker).GetCapabilitiesAsync(new GetCapabilitiesRequest { InstanceName = _instanceName }, Options(token)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        var limit = capabilities.CacheCapabilities?.MaxBatchTotalSizeBytes ?? 0;
        // Our channel sends at most 64 MiB; a server allowing more is held to what we can send.
        return limit <= 0 ? DefaultBatchBytesMax : Math.Min(limit, 64L * 1024 * 1024 - 1024 * 1024);
    }

    private async Task BatchAsync(IReadOnlyList<Digest> digests, IReadOnlyDictionary<Digest, BlobSource> blobs, CancellationToken cancellationToken)
    {
        var request = new BatchUpdateBlobsRequest { InstanceName = _instanceName };
        foreach (var digest in digests)
        {
            var source = blobs[digest];
            var data = source.FilePath is { } path ? await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false) : source.Bytes;
            if (!Digests.Matches(digest, data.Span))
            {
                throw new IOException($"{source.FilePath} changed while it was being uploaded");
            }

            request.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = UnsafeByteOperations.UnsafeWrap(data) });
        }

        var response = await _heads.CallAsync(
            (invoker, token) => new ContentAddressableStorage.ContentAddressableStorageClient(invoker).BatchUpdateBlobsAsync(request, Options(token)).ResponseAsync,
            cancellationToken).ConfigureAwait(false);
        foreach (var answer in response.Responses)
        {
            if (answer.Status is { Code: not (int)StatusCode.OK } status)
            {
                var source = blobs.TryGetValue(answer.Digest, out var s) ? s.FilePath ?? "a directory of the input tree" : "a blob";
                throw new IOException($"the head did not store {source} ({Digests.ToResourceString(answer.Digest)}): {(StatusCode)status.Code}: {status.Message}");
            }
        }
    }

    private async Task StreamAsync(RemoteBlobStore store, Digest digest, BlobSource source, CancellationToken cancellationToken)
    {
        if (source.FilePath is null)
        {
            await store.PutAsync(_instanceName, digest, source.Bytes, cancellationToken).ConfigureAwait(false);
            return;
        }

        var buffer = new byte[StreamChunkBytes];
        await using var writer = store.BeginWrite(_instanceName, digest);
        await using (var stream = new FileStream(source.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
        }

        // A file changed since it was hashed fails here with the reason instead of storing other bytes under the digest.
        await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static CallOptions Options(CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow.AddMilliseconds(CallTimeoutMs), cancellationToken: cancellationToken);
}

/// <param name="Blobs">Distinct blobs the graph needs (the empty blob aside).</param>
/// <param name="Missing">Of those, the ones the head did not hold and were sent.</param>
/// <param name="BytesSent">Their total size.</param>
/// <param name="Streamed">Sent over ByteStream rather than in a batch.</param>
internal sealed record UploadReport(int Blobs, int Missing, long BytesSent, int Streamed);
