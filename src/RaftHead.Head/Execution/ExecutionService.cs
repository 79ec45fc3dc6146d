using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using Grpc.Core;

namespace RaftHead.Head.Execution;

/// <summary>
/// Execution: Execute streams an operation from QUEUED through EXECUTING to its done state (or answers at once from
/// the action cache); WaitExecution streams an existing one from wherever it is. A stream that breaks leaves its
/// operation running, which is what lets Bazel reconnect with WaitExecution.
/// </summary>
public sealed class ExecutionService : Build.Bazel.Remote.Execution.V2.Execution.ExecutionBase
{
    /// <summary>The header every Bazel call carries: tool, action id, invocation ids.</summary>
    public const string RequestMetadataHeader = "build.bazel.remote.execution.v2.requestmetadata-bin";

    private readonly LocalScheduler _scheduler;

    public ExecutionService(LocalScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        _scheduler = scheduler;
    }


    public override async Task Execute(ExecuteRequest request, IServerStreamWriter<Operation> responseStream, ServerCallContext context)
    {
        var operation = await _scheduler.SubmitAsync(request, ToolInvocationId(context), context.CancellationToken).ConfigureAwait(false);
        await _scheduler.WatchAsync(operation, responseStream, context.CancellationToken).ConfigureAwait(false);
    }

    public override async Task WaitExecution(WaitExecutionRequest request, IServerStreamWriter<Operation> responseStream, ServerCallContext context)
    {
        var operation = _scheduler.Find(request.Name) ?? throw ExecutionErrors.OperationNotFound(request.Name);
        await _scheduler.WatchAsync(operation, responseStream, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>The client's invocation id, for logs and <c>rh ops</c>; a header that does not parse is ignored, never fatal.</summary>
    private static string? ToolInvocationId(ServerCallContext context)
    {
        if (context.RequestHeaders.GetValueBytes(RequestMetadataHeader) is not { } bytes)
        {
            return null;
        }

        try
        {
            var metadata = RequestMetadata.Parser.ParseFrom(bytes);
            return metadata.ToolInvocationId.Length > 0 ? metadata.ToolInvocationId : null;
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }
}
