using Google.Protobuf;

namespace RaftHead.Rpc.Client;

/// <summary>A call answered by a stream: read <see cref="ResponseStream"/> to its end, then the status is OK or it threw.</summary>
public sealed class ServerStreamingCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly ClientCall<TRequest, TResponse> _call;

    internal ServerStreamingCall(ClientCall<TRequest, TResponse> call)
    {
        _call = call;
    }

    public IAsyncStreamReader<TResponse> ResponseStream => _call;

    public ValueTask<Metadata> ResponseHeadersAsync() => _call.ReadHeadersAsync();

    /// <summary>Trailers, once the response stream has ended.</summary>
    public Metadata GetTrailers() => _call.Trailers;

    /// <summary>Ends the call; if it is still running the stream is reset and the server sees cancellation.</summary>
    public void Dispose() => _call.Dispose();
}
