using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace RaftHead.Rpc.Server;

/// <summary>A method bound to its handler: the dispatcher's unit of work, one per path.</summary>
internal abstract class ServerMethod
{
    protected ServerMethod(string fullName, MethodType type, int maxReceiveMessageBytes)
    {
        FullName = fullName;
        Type = type;
        MaxReceiveMessageBytes = maxReceiveMessageBytes;
    }

    public string FullName { get; }

    public MethodType Type { get; }

    public int MaxReceiveMessageBytes { get; }

    public abstract Task InvokeAsync(HttpContext http, ServerCallContext call, int maxReceiveMessageBytes);
}

internal sealed class ServerMethod<TRequest, TResponse> : ServerMethod
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly Method<TRequest, TResponse> _method;
    private readonly Delegate _handler;

    public ServerMethod(Method<TRequest, TResponse> method, Delegate handler, int maxReceiveMessageBytes)
        : base(method.FullName, method.Type, maxReceiveMessageBytes)
    {
        _method = method;
        _handler = handler;
    }

    public override async Task InvokeAsync(HttpContext http, ServerCallContext call, int maxReceiveMessageBytes)
    {
        var reader = new ServerFrameReader<TRequest>(http.Request.BodyReader, _method.RequestParser, maxReceiveMessageBytes, call.CancellationToken);
        var writer = new ServerFrameWriter<TResponse>(http, call);
        switch (Type)
        {
            case MethodType.Unary:
            {
                var request = await ReadSingleRequestAsync(reader).ConfigureAwait(false);
                var response = await ((UnaryHandler<TRequest, TResponse>)_handler)(request, call).ConfigureAwait(false);
                writer.Write(response);
                break;
            }

            case MethodType.ServerStreaming:
            {
                var request = await ReadSingleRequestAsync(reader).ConfigureAwait(false);
                await ((ServerStreamingHandler<TRequest, TResponse>)_handler)(request, writer, call).ConfigureAwait(false);
                break;
            }

            case MethodType.ClientStreaming:
            {
                var response = await ((ClientStreamingHandler<TRequest, TResponse>)_handler)(reader, call).ConfigureAwait(false);
                writer.Write(response);
                break;
            }

            default:
                await ((DuplexStreamingHandler<TRequest, TResponse>)_handler)(reader, writer, call).ConfigureAwait(false);
                break;
        }
    }

    private static async ValueTask<TRequest> ReadSingleRequestAsync(ServerFrameReader<TRequest> reader)
    {
        if (!await reader.MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, "The request stream ended without a request message.");
        }

        var request = reader.Current;
        if (await reader.MoveNext().ConfigureAwait(false))
        {
            throw new RpcException(StatusCode.Internal, "A unary or server-streaming call sent more than one request message.");
        }

        return request;
    }
}
