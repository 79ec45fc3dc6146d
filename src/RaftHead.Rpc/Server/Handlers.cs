namespace RaftHead.Rpc.Server;

public delegate ValueTask<TResponse> UnaryHandler<TRequest, TResponse>(TRequest request, ServerCallContext context);

public delegate Task ServerStreamingHandler<TRequest, TResponse>(TRequest request, IAsyncStreamWriter<TResponse> responses, ServerCallContext context);

public delegate Task<TResponse> ClientStreamingHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requests, ServerCallContext context);

public delegate Task DuplexStreamingHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requests, IAsyncStreamWriter<TResponse> responses, ServerCallContext context);
