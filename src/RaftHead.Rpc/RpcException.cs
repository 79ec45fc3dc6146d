using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace RaftHead.Rpc;

/// <summary>
/// A call that ended with a non-OK status. Thrown by clients for every failed call and by handlers to fail one.
/// <see cref="RichStatus"/> travels as <c>grpc-status-details-bin</c> and carries typed details
/// (PreconditionFailure, BadRequest, RetryInfo...).
/// </summary>
public sealed class RpcException : Exception
{
    public RpcException(Status status, Google.Rpc.Status? richStatus = null, Metadata? trailers = null)
        : base(status.ToString())
    {
        Status = status;
        RichStatus = richStatus;
        Trailers = trailers ?? new Metadata();
    }

    public RpcException(StatusCode code, string detail)
        : this(new Status(code, detail))
    {
    }

    public Status Status { get; }

    public StatusCode StatusCode => Status.Code;

    public Google.Rpc.Status? RichStatus { get; }

    public Metadata Trailers { get; }

    /// <summary>Fails a call with a code, a message and typed details, as <c>google.rpc.Status</c> prescribes.</summary>
    public static RpcException WithDetails(StatusCode code, string detail, params IMessage[] details)
    {
        var rich = new Google.Rpc.Status { Code = (int)code, Message = detail };
        foreach (var d in details)
        {
            rich.Details.Add(Any.Pack(d));
        }

        return new RpcException(new Status(code, detail), rich);
    }

    /// <summary>The first detail of type <typeparamref name="T"/>, or null.</summary>
    public T? GetDetail<T>()
        where T : class, IMessage<T>, new()
    {
        if (RichStatus is null)
        {
            return null;
        }

        var descriptor = new T().Descriptor;
        foreach (var any in RichStatus.Details)
        {
            if (any.Is(descriptor))
            {
                return any.Unpack<T>();
            }
        }

        return null;
    }
}
