using Google.Protobuf;

namespace RaftHead.Rpc;

/// <summary>
/// The one declaration of an RPC method, shared by client and server: its full name, shape and message parsers.
/// This is the seam a real gRPC package would slot in behind.
/// </summary>
public sealed class Method<TRequest, TResponse>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public Method(
        string serviceName,
        string name,
        MethodType type,
        MessageParser<TRequest> requestParser,
        MessageParser<TResponse> responseParser,
        bool idempotent = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ServiceName = serviceName;
        Name = name;
        Type = type;
        RequestParser = requestParser;
        ResponseParser = responseParser;
        Idempotent = idempotent;
        FullName = "/" + serviceName + "/" + name;
    }

    public string ServiceName { get; }

    public string Name { get; }

    /// <summary>The HTTP/2 path, <c>/package.Service/Method</c>.</summary>
    public string FullName { get; }

    public MethodType Type { get; }

    public MessageParser<TRequest> RequestParser { get; }

    public MessageParser<TResponse> ResponseParser { get; }

    /// <summary>Safe to retry after UNAVAILABLE: clients retry such unary calls with jittered backoff.</summary>
    public bool Idempotent { get; }

    public override string ToString() => FullName;
}
