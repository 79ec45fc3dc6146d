namespace RaftHead.Rpc;

/// <summary>A stream of incoming messages, read one at a time.</summary>
public interface IAsyncStreamReader<out T>
{
    T Current { get; }

    /// <summary>Advances to the next message; false at the end of the stream.</summary>
    ValueTask<bool> MoveNext(CancellationToken cancellationToken = default);
}
