using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf.WellKnownTypes;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// How a replicated <see cref="OperationState"/> looks to a REAPI client: queued is QUEUED, leased is EXECUTING, every
/// finished phase is COMPLETED with an ExecuteResponse whose status tells them apart (REAPI forbids Operation.error).
/// </summary>
public static class OperationView
{
    public static ExecutionStage.Types.Value StageOf(OperationState operation) => operation.Phase switch
    {
        OperationPhase.Queued => ExecutionStage.Types.Value.Queued,
        OperationPhase.Leased => ExecutionStage.Types.Value.Executing,
        _ => ExecutionStage.Types.Value.Completed,
    };

    public static Operation ToOperation(OperationState operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var stage = StageOf(operation);
        var view = new Operation
        {
            Name = operation.Name,
            Metadata = Any.Pack(new ExecuteOperationMetadata
            {
                Stage = stage,
                ActionDigest = operation.ActionDigest,
                DigestFunction = DigestFunction.Types.Value.Sha256,
            }),
            Done = SchedulerState.IsFinished(operation.Phase),
        };
        if (view.Done)
        {
            var status = operation.Status ?? new Google.Rpc.Status();
            var response = new ExecuteResponse { CachedResult = operation.CachedResult, Status = status };
            if (operation.Result is { } result)
            {
                response.Result = result;
            }

            if (status.Code != 0)
            {
                response.Message = status.Message;
            }

            view.Response = Any.Pack(response);
        }

        return view;
    }
}
