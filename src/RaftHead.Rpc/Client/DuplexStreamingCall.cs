using Google.Protobuf;

namespace RaftHead.Rpc.Client;

/// <summary>A bidirectional call: requests and responses flow independently over one HTTP/2 stream.</summary>
public sealed class DuplexStreamingCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly ClientCall<TRequest, TResponse> _call;

    internal DuplexStreamingCall(ClientCall<TRequest, TResponse> call, IClientStreamWriter<TRequest> requests)
    {
        _call = call;
        RequestStream = requests;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    public IAsyncStreamReader<TResponse> ResponseStream => _call;

    public ValueTask<Metadata> ResponseHeadersAsync() => _call.ReadHeadersAsync();

    public Metadata GetTrailers() => _call.Trailers;

    public void Dispose() => _call.Dispose();
}
