using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf.WellKnownTypes;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Head.Execution;

/// <summary>
/// One execution and everyone watching it. Its state changes only under the <see cref="OperationStore"/>'s lock; each
/// change publishes a new immutable <see cref="Operation"/> message and wakes the watchers, who read the latest one
/// (a watcher that falls behind skips intermediate stages rather than queueing them).
/// </summary>
internal sealed class ExecutionOperation
{
    private readonly object _gate = new();
    private Operation _current;
    private ExecutionStage.Types.Value _currentStage;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ExecutionOperation(
        string name,
        string instanceName,
        Digest actionDigest,
        ReapiAction action,
        Command? command,
        int priority,
        string? toolInvocationId,
        DateTimeOffset queuedAt)
    {
        Name = name;
        InstanceName = instanceName;
        ActionDigest = actionDigest;
        Action = action;
        Command = command;
        Priority = priority;
        ToolInvocationId = toolInvocationId;
        QueuedAt = queuedAt;
        Stage = ExecutionStage.Types.Value.Queued;
        _current = Build();
        _currentStage = Stage;
    }

    public string Name { get; }

    public string InstanceName { get; }

    public Digest ActionDigest { get; }

    /// <summary>The Action with its effective timeout filled in.</summary>
    public ReapiAction Action { get; }

    /// <summary>Null only for an operation answered from the cache, which never runs.</summary>
    public Command? Command { get; }

    /// <summary>REAPI priority: lower runs sooner.</summary>
    public int Priority { get; }

    public string? ToolInvocationId { get; }

    public DateTimeOffset QueuedAt { get; }

    /// <summary>Set once when the store assigns the operation its place; orders the queue within a priority and listings.</summary>
    public long Sequence { get; set; }

    /// <summary>Cancelled by CancelOperation and by shutdown; the run's token is linked to it.</summary>
    public CancellationTokenSource Cancellation { get; } = new();

    public ExecutionStage.Types.Value Stage { get; private set; }

    public DateTimeOffset? StartedAt { get; private set; }

    public DateTimeOffset? CompletedAt { get; private set; }

    public string? Worker { get; private set; }

    public ExecuteResponse? Response { get; private set; }

    public bool Done => Response is not null;

    /// <summary>The latest Operation message, its stage, and a task that completes at the next change.</summary>
    public (Operation Current, ExecutionStage.Types.Value Stage, Task Changed) Observe()
    {
        lock (_gate)
        {
            return (_current, _currentStage, _changed.Task);
        }
    }

    /// <summary>Caller holds the store's lock.</summary>
    public void MarkExecuting(string worker, DateTimeOffset now)
    {
        System.Diagnostics.Debug.Assert(Stage == ExecutionStage.Types.Value.Queued, "only a queued operation starts");
        Stage = ExecutionStage.Types.Value.Executing;
        StartedAt = now;
        Worker = worker;
        Publish();
    }

    /// <summary>Caller holds the store's lock. False if the operation was already done (the first outcome wins).</summary>
    /// <summary>Pins on the operation's input blobs, released when it completes.</summary>
    public List<IDisposable>? InputPins { get; set; }

    public bool TryComplete(ExecuteResponse response, DateTimeOffset now)
    {
        if (Done)
        {
            return false;
        }

        ReleasePins(InputPins);
        InputPins = null;
        Stage = ExecutionStage.Types.Value.Completed;
        CompletedAt = now;
        Response = response;
        Publish();
        return true;
    }

    public static void ReleasePins(List<IDisposable>? pins)
    {
        if (pins is null)
        {
            return;
        }

        foreach (var pin in pins)
        {
            pin.Dispose();
        }
    }

    public OperationInfo ToInfo() => new(
        Name,
        InstanceName,
        ActionDigest,
        Stage,
        QueuedAt,
        StartedAt,
        CompletedAt,
        Worker,
        Response?.CachedResult ?? false,
        Response?.Result is { } result ? result.ExitCode : null,
        Response?.Status?.Code,
        ToolInvocationId);

    private void Publish()
    {
        var next = Build();
        TaskCompletionSource changed;
        lock (_gate)
        {
            _current = next;
            _currentStage = Stage;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.SetResult();
    }

    private Operation Build()
    {
        var operation = new Operation
        {
            Name = Name,
            Metadata = Any.Pack(new ExecuteOperationMetadata
            {
                Stage = Stage,
                ActionDigest = ActionDigest,
                DigestFunction = DigestFunction.Types.Value.Sha256,
            }),
            Done = Response is not null,
        };
        if (Response is not null)
        {
            operation.Response = Any.Pack(Response);
        }

        return operation;
    }
}
