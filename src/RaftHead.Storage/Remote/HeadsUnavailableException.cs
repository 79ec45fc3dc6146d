using Grpc.Core;

namespace RaftHead.Storage.Remote;

/// <summary>No head answered within a call's budget: every one was down, or none knew a leader.</summary>
public sealed class HeadsUnavailableException : IOException
{
    public HeadsUnavailableException(IReadOnlyList<string> endpoints, TimeSpan waited, RpcException last)
        : base($"no head of {string.Join(',', endpoints)} answered within {waited.TotalSeconds:0.#} s; the last said: {last.Status.Detail}", last)
    {
    }
}
