namespace RaftHead.Rpc;

/// <summary>The request side of a client- or bidirectional-streaming call.</summary>
public interface IClientStreamWriter<in T> : IAsyncStreamWriter<T>
{
    /// <summary>Half-closes the call: the server sees the end of the request stream.</summary>
    ValueTask CompleteAsync();
}
