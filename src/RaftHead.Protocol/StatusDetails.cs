using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace RaftHead.Protocol;

/// <summary>
/// Rich errors as <c>google.rpc.Status</c> prescribes: a code, a message and typed details (BadRequest,
/// PreconditionFailure, RetryInfo...) carried in the <c>grpc-status-details-bin</c> trailer, for servers to throw
/// and clients to read.
/// </summary>
public static class StatusDetails
{
    /// <summary>An exception that fails a call with <paramref name="code"/>, <paramref name="message"/> and the details.</summary>
    public static RpcException Exception(StatusCode code, string message, params IMessage[] details)
    {
        var status = new Google.Rpc.Status { Code = (int)code, Message = message };
        foreach (var detail in details)
        {
            status.Details.Add(Any.Pack(detail));
        }

        return status.ToRpcException();
    }

    /// <summary>The first detail of type <typeparamref name="T"/> the call failed with, or null.</summary>
    public static T? GetDetail<T>(this RpcException exception)
        where T : class, IMessage<T>, new()
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.GetRpcStatus()?.GetDetail<T>();
    }
}
