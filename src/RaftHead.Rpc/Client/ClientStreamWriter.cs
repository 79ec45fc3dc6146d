using System.Buffers;
using Google.Protobuf;

namespace RaftHead.Rpc.Client;

/// <summary>Writes request frames into a streaming call's open request body.</summary>
internal sealed class ClientStreamWriter<TRequest, TResponse> : IClientStreamWriter<TRequest>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly ClientCall<TRequest, TResponse> _call;
    private readonly PushStreamContent _content;
    private bool _completed;

    public ClientStreamWriter(ClientCall<TRequest, TResponse> call, PushStreamContent content)
    {
        _call = call;
        _content = content;
    }

    public async ValueTask WriteAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            throw new InvalidOperationException("The request stream was already completed.");
        }

        if (_call.FinalStatus is { Code: not StatusCode.OK } status)
        {
            throw new RpcException(status);
        }

        var frame = GrpcProtocol.RentFrame(message, out var frameBytes);
        try
        {
            using var linked = cancellationToken.CanBeCanceled
                ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _call.Token)
                : null;
            var token = linked?.Token ?? _call.Token;
            var stream = await _content.Stream.WaitAsync(token).ConfigureAwait(false);
            await stream.WriteAsync(frame.AsMemory(0, frameBytes), token).ConfigureAwait(false);
            await stream.FlushAsync(token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RpcException)
        {
            // The server may have ended the call (a limit, an early error): its status is the real reason.
            // Not when the caller cancelled this write: the call itself may still be running.
            if (!cancellationToken.IsCancellationRequested)
            {
                await _call.ReadHeadersAsync().ConfigureAwait(false);
            }

            throw _call.MapException(e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    public ValueTask CompleteAsync()
    {
        _completed = true;
        _content.Complete();
        return ValueTask.CompletedTask;
    }
}
