using Google.Protobuf.WellKnownTypes;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary><c>rh ops</c>'s answer, read from the replicated state: the same on every replica that applied the same log.</summary>
public static class OperationsListing
{
    public static ListOperationsResponse Build(SchedulerState state, ListOperationsRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var slots = 0;
        foreach (var worker in state.Workers.Values)
        {
            slots += (int)worker.Slots;
        }

        var response = new ListOperationsResponse
        {
            ExecutionEnabled = true,
            Queued = state.QueuedCount,
            Running = state.LeasedCount,
            Slots = slots,
        };

        // Names carry the log index, so creation order is index order; most recent first.
        var operations = new List<OperationState>(state.Operations.Count);
        foreach (var operation in state.Operations.Values)
        {
            if ((request.Stages.Count == 0 || request.Stages.Contains(OperationView.StageOf(operation))) && Matches(operation, request.Outcome))
            {
                operations.Add(operation);
            }
        }

        operations.Sort(static (a, b) => b.CreatedIndex.CompareTo(a.CreatedIndex));
        foreach (var operation in operations)
        {
            response.Operations.Add(Summarize(operation));
            if (request.Limit > 0 && response.Operations.Count == request.Limit)
            {
                break;
            }
        }

        return response;
    }

    private static OperationSummary Summarize(OperationState operation)
    {
        var summary = new OperationSummary
        {
            Name = operation.Name,
            InstanceName = operation.InstanceName,
            ActionDigest = operation.ActionDigest,
            Stage = OperationView.StageOf(operation),
            QueuedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(operation.SubmittedAtUnixMs)),
            Worker = operation.Lease?.WorkerId ?? LastWorker(operation),
            CachedResult = operation.CachedResult,
            ToolInvocationId = operation.ToolInvocationId,
            Attempts = (uint)operation.Attempts.Count,
            DeadLettered = operation.Phase == OperationPhase.DeadLettered,
            Cancelled = operation.Phase == OperationPhase.Cancelled,
        };
        summary.CloneWon = SchedulerState.WinningAttempt(operation) is { Speculative: true };
        foreach (var attempt in operation.Attempts)
        {
            if (attempt.Speculative)
            {
                summary.Clones++;
            }

            if (attempt.FailureReason.Length > 0)
            {
                summary.Failures.Add(new AttemptFailure
                {
                    Attempt = attempt.Attempt,
                    WorkerId = attempt.WorkerId,
                    Reason = attempt.FailureReason,
                    EndedAt = attempt.EndedAtUnixMs > 0 ? Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(attempt.EndedAtUnixMs)) : null,
                });
            }
        }

        var leasedAt = operation.Lease?.LeasedAtUnixMs ?? (operation.Attempts.Count > 0 ? operation.Attempts[^1].LeasedAtUnixMs : 0);
        if (leasedAt > 0)
        {
            summary.StartedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(leasedAt));
        }

        if (SchedulerState.IsFinished(operation.Phase))
        {
            summary.CompletedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(operation.FinishedAtUnixMs));
            summary.StatusCode = operation.Status?.Code ?? 0;
            summary.StatusMessage = operation.Status?.Message ?? "";
            if (operation.Result is { } result)
            {
                summary.ExitCode = result.ExitCode;
            }
        }

        return summary;
    }

    private static bool Matches(OperationState operation, OutcomeFilter outcome) => outcome switch
    {
        OutcomeFilter.Any => true,
        OutcomeFilter.DeadLettered => operation.Phase == OperationPhase.DeadLettered,
        OutcomeFilter.Failed => SchedulerState.IsFinished(operation.Phase)
            && ((operation.Status?.Code ?? 0) != 0 || (operation.Result?.ExitCode ?? 0) != 0),
        // A filter this head does not know would list everything, which a caller asking for a subset would misread.
        _ => false,
    };

    private static string LastWorker(OperationState operation) =>
        operation.Attempts.Count > 0 ? operation.Attempts[^1].WorkerId : "";
}
