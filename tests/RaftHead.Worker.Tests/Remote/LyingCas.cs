using Build.Bazel.Remote.Execution.V2;
using Google.ByteStream;
using Google.Protobuf;
using Grpc.Core;

namespace RaftHead.Worker.Tests.Remote;

/// <summary>A head whose CAS answers every read with the blob it holds, one byte flipped: what a bad disk or link does.</summary>
internal sealed class LyingCas(byte[] blob)
{
    public CasPart Cas { get; } = new CasPart(blob);

    public ByteStreamPart ByteStream { get; } = new ByteStreamPart(blob);

    private static byte[] Flipped(byte[] blob)
    {
        var copy = (byte[])blob.Clone();
        copy[copy.Length / 2] ^= 0xFF;
        return copy;
    }

    internal sealed class CasPart(byte[] blob) : ContentAddressableStorage.ContentAddressableStorageBase
    {
        public override Task<BatchReadBlobsResponse> BatchReadBlobs(BatchReadBlobsRequest request, ServerCallContext context)
        {
            var response = new BatchReadBlobsResponse();
            foreach (var digest in request.Digests)
            {
                response.Responses.Add(new BatchReadBlobsResponse.Types.Response { Digest = digest, Status = new Google.Rpc.Status(), Data = ByteString.CopyFrom(Flipped(blob)) });
            }

            return Task.FromResult(response);
        }
    }

    internal sealed class ByteStreamPart(byte[] blob) : ByteStream.ByteStreamBase
    {
        public override async Task Read(ReadRequest request, IServerStreamWriter<ReadResponse> responseStream, ServerCallContext context)
        {
            var flipped = Flipped(blob);
            for (var at = 0; at < flipped.Length; at += 256 * 1024)
            {
                await responseStream.WriteAsync(new ReadResponse { Data = ByteString.CopyFrom(flipped, at, Math.Min(256 * 1024, flipped.Length - at)) });
            }
        }
    }
}
