using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using Grpc.Core;

namespace RaftHead.Head.Frontend;

/// <summary>
/// REAPI Execution over the replicated scheduler: Execute submits and streams QUEUED, EXECUTING, COMPLETED (or answers
/// at once from the action cache); WaitExecution streams an existing operation, found on any replica that applied it.
/// </summary>
public sealed class FrontendExecutionService : Build.Bazel.Remote.Execution.V2.Execution.ExecutionBase
{
    /// <summary>Where REAPI clients put their RequestMetadata (tool invocation id, action id).</summary>
    public const string RequestMetadataHeader = "build.bazel.remote.execution.v2.requestmetadata-bin";

    private readonly SchedulerFrontend _frontend;

    public FrontendExecutionService(SchedulerFrontend frontend)
    {
        ArgumentNullException.ThrowIfNull(frontend);
        _frontend = frontend;
    }

    public override async Task Execute(ExecuteRequest request, IServerStreamWriter<Operation> responseStream, ServerCallContext context)
    {
        var submission = await _frontend.SubmitAsync(request, ReadRequestMetadata(context), context.CancellationToken).ConfigureAwait(false);
        if (submission.Answered is { } answered)
        {
            await responseStream.WriteAsync(OperationView.ToOperation(answered), context.CancellationToken).ConfigureAwait(false);
            return;
        }

        await _frontend.WatchAsync(submission.Name, responseStream, context.CancellationToken).ConfigureAwait(false);
    }

    public override async Task WaitExecution(WaitExecutionRequest request, IServerStreamWriter<Operation> responseStream, ServerCallContext context)
    {
        _ = await _frontend.FindAsync(request.Name, context.CancellationToken).ConfigureAwait(false) ?? throw FrontendErrors.OperationNotFound(request.Name);
        await _frontend.WatchAsync(request.Name, responseStream, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>The client's RequestMetadata header (tool invocation, action id), or null; one that does not parse is ignored, never fatal.</summary>
    public static RequestMetadata? ReadRequestMetadata(ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.RequestHeaders.GetValueBytes(RequestMetadataHeader) is not { } bytes)
        {
            return null;
        }

        try
        {
            return RequestMetadata.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }
}
