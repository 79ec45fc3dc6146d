using Google.Protobuf;

namespace RaftHead.Rpc.Server;

/// <summary>
/// Declares a service once: each method with its handler and, where it differs from the server's default,
/// its own receive limit (ByteStream writes, for example, may allow larger chunks than control calls).
/// </summary>
public sealed class ServiceBuilder
{
    private readonly string _serviceName;
    private readonly List<ServerMethod> _methods = new();

    public ServiceBuilder(string serviceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        _serviceName = serviceName;
    }

    public ServiceBuilder Unary<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryHandler<TRequest, TResponse> handler, int maxReceiveMessageBytes = 0)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, MethodType.Unary, handler, maxReceiveMessageBytes);

    public ServiceBuilder ServerStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingHandler<TRequest, TResponse> handler, int maxReceiveMessageBytes = 0)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, MethodType.ServerStreaming, handler, maxReceiveMessageBytes);

    public ServiceBuilder ClientStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingHandler<TRequest, TResponse> handler, int maxReceiveMessageBytes = 0)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, MethodType.ClientStreaming, handler, maxReceiveMessageBytes);

    public ServiceBuilder DuplexStreaming<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingHandler<TRequest, TResponse> handler, int maxReceiveMessageBytes = 0)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, MethodType.DuplexStreaming, handler, maxReceiveMessageBytes);

    public ServiceDefinition Build() => new(_serviceName, _methods.ToArray());

    private ServiceBuilder Add<TRequest, TResponse>(Method<TRequest, TResponse> method, MethodType expected, Delegate handler, int maxReceiveMessageBytes)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (method.Type != expected)
        {
            throw new ArgumentException($"{method.FullName} is declared {method.Type}, not {expected}.", nameof(method));
        }

        if (method.ServiceName != _serviceName)
        {
            throw new ArgumentException($"{method.FullName} does not belong to service {_serviceName}.", nameof(method));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(maxReceiveMessageBytes);
        _methods.Add(new ServerMethod<TRequest, TResponse>(method, handler, maxReceiveMessageBytes));
        return this;
    }
}
