using System.Collections.Immutable;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// The scheduler's whole state at one applied index: an immutable value, so the frontend reads a consistent point in
/// time from any thread while the log applies the next command, and a snapshot encodes it without a pause.
/// <see cref="Operations"/>, <see cref="Workers"/>, <see cref="Queues"/> and <see cref="Cache"/> are the state; the
/// other collections are indexes derived from them (rebuilt on restore, checked by <see cref="SchedulerInvariants"/>).
/// The protobuf messages inside are shared between versions and must never be mutated: a change clones.
/// </summary>
public sealed record SchedulerState
{
    public static SchedulerState Empty { get; } = new();

    /// <summary>The log index of the last command applied (valid or not).</summary>
    public long AppliedIndex { get; internal init; }

    /// <summary>Bumped by every command that changes something; a watcher waits for it to move.</summary>
    public long Version { get; internal init; }

    public ImmutableSortedDictionary<string, OperationState> Operations { get; internal init; } = ImmutableSortedDictionary.Create<string, OperationState>(StringComparer.Ordinal);

    public ImmutableSortedDictionary<string, WorkerState> Workers { get; internal init; } = ImmutableSortedDictionary.Create<string, WorkerState>(StringComparer.Ordinal);

    public ImmutableSortedDictionary<QueueKey, QueueLevel> Queues { get; internal init; } = ImmutableSortedDictionary<QueueKey, QueueLevel>.Empty;

    public ActionCacheState Cache { get; internal init; } = ActionCacheState.Empty;

    /// <summary>Submitted action graphs by id, kept until pruned after they finish.</summary>
    public ImmutableSortedDictionary<string, GraphRecord> Graphs { get; internal init; } = ImmutableSortedDictionary.Create<string, GraphRecord>(StringComparer.Ordinal);

    /// <summary>Runs of one action whose outputs differed, oldest first, at most <see cref="SchedulerLimits.NondeterminismReportsMax"/>.</summary>
    public ImmutableList<NondeterminismReport> Nondeterminism { get; internal init; } = ImmutableList<NondeterminismReport>.Empty;

    /// <summary>Derived: what each worker's leases hold (an entry per worker).</summary>
    public ImmutableDictionary<string, WorkerUsage> Usage { get; internal init; } = ImmutableDictionary.Create<string, WorkerUsage>(StringComparer.Ordinal);

    /// <summary>Derived: request id to operation name.</summary>
    public ImmutableDictionary<string, string> Requests { get; internal init; } = ImmutableDictionary.Create<string, string>(StringComparer.Ordinal);

    /// <summary>Derived: unfinished operations that others may join (not do_not_cache), by action.</summary>
    public ImmutableDictionary<ActionKey, string> InFlight { get; internal init; } = ImmutableDictionary<ActionKey, string>.Empty;

    /// <summary>Derived: finished operations, oldest first, for pruning.</summary>
    public ImmutableSortedSet<FinishedKey> Finished { get; internal init; } = ImmutableSortedSet<FinishedKey>.Empty;

    /// <summary>Derived: the graph nodes each unfinished operation runs for (nodes queued or running).</summary>
    public ImmutableDictionary<string, ImmutableArray<GraphNodeRef>> GraphLinks { get; internal init; } = ImmutableDictionary.Create<string, ImmutableArray<GraphNodeRef>>(StringComparer.Ordinal);

    public int QueuedCount { get; internal init; }

    public int LeasedCount { get; internal init; }

    public int UnfinishedCount => QueuedCount + LeasedCount;

    public OperationState? FindOperation(string name) => Operations.GetValueOrDefault(name);

    public OperationState? FindOperationByRequest(string requestId) =>
        Requests.TryGetValue(requestId, out var name) ? Operations[name] : null;

    public GraphRecord? FindGraph(string graphId) => Graphs.GetValueOrDefault(graphId);

    public WorkerState? FindWorker(string workerId) => Workers.GetValueOrDefault(workerId);

    public WorkerUsage? UsageOf(string workerId) => Usage.GetValueOrDefault(workerId);

    /// <summary>The result the action cache holds for an action, if any.</summary>
    public ActionResult? FindCachedResult(string instanceName, Digest actionDigest) =>
        Cache.Find(ActionKey.Of(instanceName, actionDigest))?.Result;

    /// <summary>Waiting operations per queue, in serving order.</summary>
    public List<(QueueKey Queue, int Depth)> QueueDepths()
    {
        var depths = new List<(QueueKey, int)>(Queues.Count);
        foreach (var (key, level) in Queues)
        {
            depths.Add((key, level.Count));
        }

        return depths;
    }

    /// <summary>The operations leased to a worker, by name.</summary>
    public List<OperationState> LeasesOf(string workerId)
    {
        if (UsageOf(workerId) is not { } usage)
        {
            return [];
        }

        var leases = new List<OperationState>(usage.Leases.Count);
        foreach (var name in usage.Leases)
        {
            leases.Add(Operations[name]);
        }

        return leases;
    }

    /// <summary>Leases, a clone's too, that expired at <paramref name="nowUnixMs"/>: the leader proposes their failure.</summary>
    public List<(OperationState Operation, uint Attempt, LeaseState Lease)> ExpiredLeases(long nowUnixMs)
    {
        var expired = new List<(OperationState, uint, LeaseState)>();
        foreach (var operation in Operations.Values)
        {
            if (operation.Phase != OperationPhase.Leased)
            {
                continue;
            }

            if (operation.Lease.ExpiresAtUnixMs <= nowUnixMs)
            {
                expired.Add((operation, operation.Attempt, operation.Lease));
            }

            if (operation.CloneLease is { } clone && clone.ExpiresAtUnixMs <= nowUnixMs)
            {
                expired.Add((operation, operation.CloneAttempt, clone));
            }
        }

        return expired;
    }

    /// <summary>The attempt and lease a worker holds on an operation: the original's or its clone's; null when neither.</summary>
    public static (uint Attempt, LeaseState Lease)? LeaseOf(OperationState operation, string workerId)
    {
        if (operation.Phase != OperationPhase.Leased)
        {
            return null;
        }

        if (operation.Lease.WorkerId == workerId)
        {
            return (operation.Attempt, operation.Lease);
        }

        return operation.CloneLease is { } clone && clone.WorkerId == workerId ? (operation.CloneAttempt, clone) : null;
    }

    /// <summary>The attempt whose result a completed operation holds; null for any other operation (or a cache hit).</summary>
    public static AttemptRecord? WinningAttempt(OperationState operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        if (operation.Phase != OperationPhase.Completed)
        {
            return null;
        }

        for (var i = operation.Attempts.Count - 1; i >= 0; i--)
        {
            var attempt = operation.Attempts[i];
            if (attempt.FailureReason.Length == 0 && !attempt.Superseded && attempt.EndedAtUnixMs != 0)
            {
                return attempt;
            }
        }

        return null;
    }

    public static bool IsFinished(OperationPhase phase) =>
        phase is OperationPhase.Completed or OperationPhase.Cancelled or OperationPhase.DeadLettered;
}
