using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Bench.Wire;

namespace RaftHead.Bench;

/// <summary>The rpc scenario's service on grpc-dotnet: an echo, and a download whose buffer handling is chosen per call.</summary>
internal sealed class BenchService : Wire.Bench.BenchBase
{
    public override Task<Payload> Echo(Payload request, ServerCallContext context) => Task.FromResult(request);

    public override async Task Download(DownloadRequest request, IServerStreamWriter<Payload> responseStream, ServerCallContext context)
    {
        if (request.Messages is < 0 or > Payloads.MaxStreamMessages || request.MessageBytes is < 0 or > Payloads.MaxStreamMessageBytes)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"At most {Payloads.MaxStreamMessages} messages of {Payloads.MaxStreamMessageBytes} bytes."));
        }

        var source = Payloads.Raw(request.MessageBytes);
        var pooled = request.Mode == BufferMode.FreshWrap ? null : ArrayPool<byte>.Shared.Rent(request.MessageBytes);
        try
        {
            for (var i = 0; i < request.Messages; i++)
            {
                // The copy into the buffer stands in for the store read that fills ByteStreamService's buffer.
                var buffer = pooled ?? new byte[request.MessageBytes];
                source.CopyTo(buffer, 0);
                var data = request.Mode == BufferMode.PooledCopy
                    ? ByteString.CopyFrom(buffer, 0, request.MessageBytes)
                    : UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, request.MessageBytes));

                // grpc-dotnet serialises the message into the response pipe before WriteAsync completes, so the
                // pooled buffer may be refilled for the next message once this await returns.
                await responseStream.WriteAsync(new Payload { Value = data }, context.CancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (pooled is not null)
            {
                ArrayPool<byte>.Shared.Return(pooled);
            }
        }
    }
}
