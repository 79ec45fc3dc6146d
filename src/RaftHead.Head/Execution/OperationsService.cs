using System.Globalization;
using Google.LongRunning;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftHead.Head.Reapi;

namespace RaftHead.Head.Execution;

/// <summary>
/// google.longrunning.Operations over the local scheduler's operations: GetOperation, ListOperations (filter
/// <c>stage=QUEUED</c> etc., see <see cref="OperationFilter"/>) and CancelOperation. A cancelled operation completes
/// with ExecuteResponse.status CANCELLED rather than Operation.error: REAPI forbids servers to set error, and Bazel
/// reads only the response.
/// </summary>
public sealed class OperationsService : Operations.OperationsBase
{
    public const int DefaultPageSize = 100;
    public const int PageSizeMax = 1000;

    private readonly LocalScheduler _scheduler;

    public OperationsService(LocalScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        _scheduler = scheduler;
    }


    public override Task<Operation> GetOperation(GetOperationRequest request, ServerCallContext context)
    {
        var operation = _scheduler.Find(request.Name) ?? throw ExecutionErrors.OperationNotFound(request.Name);
        return Task.FromResult(operation.Observe().Current);
    }

    /// <summary>Operations in creation order; the page token is the position after the last one listed.</summary>
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
        var response = new ListOperationsResponse();
        foreach (var operation in _scheduler.List(after))
        {
            var (current, stage, _) = operation.Observe();
            if (!filter.Matches(stage, current.Done))
            {
                continue;
            }

            if (response.Operations.Count == pageSize)
            {
                response.NextPageToken = after.ToString(CultureInfo.InvariantCulture);
                break;
            }

            response.Operations.Add(current);
            after = operation.Sequence;
        }

        return Task.FromResult(response);
    }

    public override Task<Empty> CancelOperation(CancelOperationRequest request, ServerCallContext context)
    {
        if (!_scheduler.Cancel(request.Name))
        {
            throw ExecutionErrors.OperationNotFound(request.Name);
        }

        return Task.FromResult(new Empty());
    }
}
