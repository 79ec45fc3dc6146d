using System.Globalization;
using Google.LongRunning;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Head.Execution;
using RaftHead.Head.Reapi;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using ListOperationsRequest = Google.LongRunning.ListOperationsRequest;
using ListOperationsResponse = Google.LongRunning.ListOperationsResponse;

namespace RaftHead.Head.Frontend;

/// <summary>
/// google.longrunning.Operations over the replicated operations: GetOperation and ListOperations read the applied
/// state; CancelOperation is a command, and the worker running the operation learns it at its next heartbeat.
/// </summary>
public sealed class FrontendOperationsService : Operations.OperationsBase
{
    public const int DefaultPageSize = 100;

    public const int PageSizeMax = 1000;

    private readonly SchedulerFrontend _frontend;

    public FrontendOperationsService(SchedulerFrontend frontend)
    {
        ArgumentNullException.ThrowIfNull(frontend);
        _frontend = frontend;
    }

    public override async Task<Operation> GetOperation(GetOperationRequest request, ServerCallContext context)
    {
        var operation = await _frontend.FindAsync(request.Name, context.CancellationToken).ConfigureAwait(false)
            ?? throw FrontendErrors.OperationNotFound(request.Name);
        return OperationView.ToOperation(operation);
    }

    /// <summary>Operations in log order; the page token is the log index of the last one listed.</summary>
    public override Task<ListOperationsResponse> ListOperations(ListOperationsRequest request, ServerCallContext context)
    {
        var filter = OperationFilter.Parse(request.Filter);
        if (request.PageSize < 0)
        {
            throw ReapiErrors.InvalidArgument("page_size", "must not be negative");
        }

        long after = 0;
        if (request.PageToken.Length > 0
            && (!long.TryParse(request.PageToken, NumberStyles.None, CultureInfo.InvariantCulture, out after) || after < 0))
        {
            throw ReapiErrors.InvalidArgument("page_token", $"'{request.PageToken}' is not a token this server issued");
        }

        var pageSize = request.PageSize == 0 ? DefaultPageSize : Math.Min(request.PageSize, PageSizeMax);
        var ordered = new List<OperationState>();
        foreach (var operation in _frontend.Log.Current.Operations.Values)
        {
            if (operation.CreatedIndex > after)
            {
                ordered.Add(operation);
            }
        }

        ordered.Sort(static (a, b) => a.CreatedIndex.CompareTo(b.CreatedIndex));
        var response = new ListOperationsResponse();
        foreach (var operation in ordered)
        {
            if (!filter.Matches(OperationView.StageOf(operation), SchedulerState.IsFinished(operation.Phase)))
            {
                continue;
            }

            if (response.Operations.Count == pageSize)
            {
                response.NextPageToken = after.ToString(CultureInfo.InvariantCulture);
                break;
            }

            response.Operations.Add(OperationView.ToOperation(operation));
            after = operation.CreatedIndex;
        }

        return Task.FromResult(response);
    }

    /// <summary>Ends a queued or running operation with CANCELLED; a finished one is left as it is.</summary>
    public override async Task<Empty> CancelOperation(CancelOperationRequest request, ServerCallContext context)
    {
        var cancel = new CancelOperation { OperationName = request.Name, Reason = "Cancelled by CancelOperation.", AtUnixMs = _frontend.NowUnixMs };
        var result = await _frontend.ProposeAsync(new SchedulerCommand { Cancel = cancel }, context.CancellationToken, refusalIsAnswer: true).ConfigureAwait(false);
        switch (result.Code)
        {
            case SchedulerResultCode.Ok:
            case SchedulerResultCode.AlreadyFinished:
                return new Empty();
            case SchedulerResultCode.NotFound:
                throw FrontendErrors.OperationNotFound(request.Name);
            default:
                throw FrontendErrors.FromResult(result, _frontend.RetryDelay);
        }
    }
}
