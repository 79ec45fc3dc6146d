using System.Buffers.Binary;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Bench.Storage;
using RaftHead.Protocol.Client;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Bench.Execution;

/// <summary>
/// Distinct no-op actions: one Command (<c>/bin/true</c>, no outputs, no environment), the empty input root, and
/// Actions that differ only in <c>Action.salt</c> (8 bytes: the action's index). Distinct action digests keep the
/// scheduler from merging concurrent calls into one operation; the Command and the input root are shared.
/// Uploaded through BatchUpdateBlobs before any timing.
/// </summary>
internal static class NoOpActions
{
    private const int PerBatch = 500;
    private const int BatchesInFlight = 16;

    public static async Task<Digest[]> UploadAsync(ReapiClients clients, int count, CancellationToken cancellationToken, long first = 0)
    {
        var command = new Command { Arguments = { "/bin/true" } }.ToByteString();
        var root = new ReapiDirectory().ToByteString(); // zero bytes: the empty blob
        var commandDigest = BlobSet.DigestOf(command.ToByteArray());
        var rootDigest = BlobSet.DigestOf(root.ToByteArray());
        await PutAsync(clients, [(commandDigest, command), (rootDigest, root)], cancellationToken).ConfigureAwait(false);

        var actions = new (Digest Digest, ByteString Data)[count];
        var salt = new byte[8];
        for (var i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(salt, first + i);
            var data = new ReapiAction
            {
                CommandDigest = commandDigest,
                InputRootDigest = rootDigest,
                Salt = ByteString.CopyFrom(salt),
                Timeout = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(60)),
            }.ToByteString();
            actions[i] = (BlobSet.DigestOf(data.ToByteArray()), data);
        }

        long next = -1;
        var batches = actions.Chunk(PerBatch).ToArray();
        var uploaders = Enumerable.Range(0, BatchesInFlight).Select(_ => Task.Run(
            async () =>
            {
                long b;
                while ((b = Interlocked.Increment(ref next)) < batches.Length)
                {
                    await PutAsync(clients, batches[b], cancellationToken).ConfigureAwait(false);
                }
            },
            cancellationToken));
        await Task.WhenAll(uploaders).ConfigureAwait(false);
        return actions.Select(a => a.Digest).ToArray();
    }

    private static async Task PutAsync(ReapiClients clients, IReadOnlyList<(Digest Digest, ByteString Data)> blobs, CancellationToken cancellationToken)
    {
        var request = new BatchUpdateBlobsRequest { InstanceName = ExecutePhase.Instance };
        foreach (var (digest, data) in blobs)
        {
            request.Requests.Add(new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = data });
        }

        var response = await clients.Cas.BatchUpdateBlobsAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (response.Responses.Any(r => r.Status.Code != 0))
        {
            throw new InvalidOperationException("Benchmark self-check failed: BatchUpdateBlobs refused a blob: " + response.Responses.First(r => r.Status.Code != 0).Status.Message);
        }
    }
}
