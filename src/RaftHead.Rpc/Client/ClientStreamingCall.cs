using Google.Protobuf;

namespace RaftHead.Rpc.Client;

/// <summary>A call fed by a stream: write requests, complete the stream, then await the single response.</summary>
public sealed class ClientStreamingCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly ClientCall<TRequest, TResponse> _call;
    private Task<TResponse>? _response;

    internal ClientStreamingCall(ClientCall<TRequest, TResponse> call, IClientStreamWriter<TRequest> requests)
    {
        _call = call;
        RequestStream = requests;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    public Task<TResponse> ResponseAsync => _response ??= ReadResponseAsync();

    public Metadata GetTrailers() => _call.Trailers;

    public void Dispose() => _call.Dispose();

    private async Task<TResponse> ReadResponseAsync()
    {
        if (!await _call.MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, "The server ended the call without a response message.");
        }

        var response = _call.Current;
        if (await _call.MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, "The server sent more than one response message.");
        }

        return response;
    }
}
