using Google.LongRunning;
using Grpc.Core;
using RemoteExecution = Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Tests.Grpc;

/// <summary>An Execution service whose Execute always fails with UNAVAILABLE, counting the attempts.</summary>
internal sealed class FlakyExecution : RemoteExecution.Execution.ExecutionBase
{
    private int _attempts;

    public int Attempts => Volatile.Read(ref _attempts);

    public override Task Execute(RemoteExecution.ExecuteRequest request, IServerStreamWriter<Operation> responseStream, ServerCallContext context)
    {
        Interlocked.Increment(ref _attempts);
        throw new RpcException(new Status(StatusCode.Unavailable, "warming up"));
    }
}
