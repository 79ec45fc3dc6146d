using System.Globalization;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// What must hold of every <see cref="SchedulerState"/>, checked in full (linear in the state: for tests and
/// diagnostics, not for the apply path). Returns the first violation, or null.
/// </summary>
public static class SchedulerInvariants
{
    public static string? Check(SchedulerState state, SchedulerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(limits);
        var usage = new Dictionary<string, WorkerUsage>(StringComparer.Ordinal);
        foreach (var worker in state.Workers.Values)
        {
            usage[worker.WorkerId] = WorkerUsage.For(worker.Gpus);
        }

        int queued = 0, leased = 0, requests = 0;
        var inFlight = 0;
        foreach (var operation in state.Operations.Values)
        {
            requests += operation.RequestIds.Count;
            foreach (var requestId in operation.RequestIds)
            {
                if (state.Requests.GetValueOrDefault(requestId) != operation.Name)
                {
                    return $"request {requestId} of {operation.Name} is not indexed to it";
                }
            }

            var finished = SchedulerState.IsFinished(operation.Phase);
            if (finished != state.Finished.Contains(new FinishedKey(operation.FinishedAtUnixMs, operation.Name)))
            {
                return $"{operation.Name} ({operation.Phase}) is {(finished ? "missing from" : "in")} the finished index";
            }

            var key = ActionKey.Of(operation.InstanceName, operation.ActionDigest);
            var indexed = state.InFlight.GetValueOrDefault(key) == operation.Name;
            if (indexed != (!finished && !operation.DoNotCache))
            {
                return $"{operation.Name} ({operation.Phase}, do_not_cache {operation.DoNotCache}) is wrongly {(indexed ? "" : "not ")}in flight";
            }

            inFlight += indexed ? 1 : 0;

            // Exactly one live lease per leased operation, on a known worker; none otherwise.
            if ((operation.Phase == OperationPhase.Leased) != (operation.Lease is not null))
            {
                return $"{operation.Name} is {operation.Phase} with{(operation.Lease is null ? "out" : "")} a lease";
            }

            if (operation.Phase == OperationPhase.Leased)
            {
                leased++;
                if (!usage.TryGetValue(operation.Lease!.WorkerId, out var held))
                {
                    return $"{operation.Name} is leased to unknown worker {operation.Lease.WorkerId}";
                }

                var open = 0;
                foreach (var attempt in operation.Attempts)
                {
                    open += attempt.EndedAtUnixMs == 0 && attempt.FailureReason.Length == 0 && attempt.Attempt == operation.Attempt ? 1 : 0;
                }

                if (open != 1)
                {
                    return $"{operation.Name} is leased but has {open} open records of attempt {operation.Attempt}";
                }

                usage[operation.Lease.WorkerId] = held.Plus(operation.Name, operation.Resources, operation.Lease.GpuDevices);

                // At most one clone, on another known worker, with its own open record marked speculative.
                if (operation.CloneLease is { } clone)
                {
                    if (clone.WorkerId == operation.Lease.WorkerId || !usage.TryGetValue(clone.WorkerId, out var cloneHeld))
                    {
                        return $"{operation.Name} has a clone on {clone.WorkerId}, unknown or where the original runs";
                    }

                    var cloneOpen = 0;
                    foreach (var attempt in operation.Attempts)
                    {
                        cloneOpen += attempt.EndedAtUnixMs == 0 && attempt.FailureReason.Length == 0 && attempt.Attempt == operation.CloneAttempt && attempt.Speculative ? 1 : 0;
                    }

                    if (cloneOpen != 1 || operation.CloneAttempt == operation.Attempt)
                    {
                        return Invariant($"{operation.Name} has a clone at attempt {operation.CloneAttempt} with {cloneOpen} open speculative records");
                    }

                    usage[clone.WorkerId] = cloneHeld.Plus(operation.Name, operation.Resources, clone.GpuDevices);
                }
                else if (operation.CloneAttempt != 0)
                {
                    return $"{operation.Name} names a clone attempt but has no clone lease";
                }
            }
            else if (operation.CloneLease is not null)
            {
                return $"{operation.Name} is {operation.Phase} with a clone lease";
            }

            // Attempt numbers are unique and in the order the attempts started.
            for (var i = 0; i < operation.Attempts.Count; i++)
            {
                if (operation.Attempts[i].Attempt != (uint)i + 1)
                {
                    return Invariant($"{operation.Name} records attempt {operation.Attempts[i].Attempt} in place {i + 1}");
                }
            }

            if (operation.Phase == OperationPhase.Queued)
            {
                queued++;
                var queue = new QueueKey(PlatformRules.Key(operation.Platform), operation.Priority);
                if (!state.Queues.TryGetValue(queue, out var level)
                    || !level.Waiting.TryGetValue(operation.ToolInvocationId, out var fifo)
                    || fifo.GetValueOrDefault(operation.CreatedIndex) != operation.Name)
                {
                    return $"queued {operation.Name} is not in its queue";
                }
            }

            // A dead-lettered operation keeps why each of its attempts ended.
            if (operation.Phase == OperationPhase.DeadLettered)
            {
                foreach (var attempt in operation.Attempts)
                {
                    if (attempt.FailureReason.Length == 0)
                    {
                        return Invariant($"dead-lettered {operation.Name} lost the reason of attempt {attempt.Attempt}");
                    }
                }

                if (operation.Status is null || operation.Status.Message.Length == 0)
                {
                    return $"dead-lettered {operation.Name} has no status message";
                }
            }

            // Every run that ended without a result counts, a clone's too; none that another result superseded. A clone's
            // failure never requeues, so only a requeue is held to the budget.
            var failedRuns = 0;
            foreach (var attempt in operation.Attempts)
            {
                failedRuns += attempt.FailureReason.Length > 0 && !attempt.Superseded ? 1 : 0;
            }

            if (operation.Phase == OperationPhase.Queued && failedRuns >= limits.AttemptsMax)
            {
                return Invariant($"{operation.Name} is queued again after {failedRuns} failed runs, against a budget of {limits.AttemptsMax}");
            }
        }

        if (requests != state.Requests.Count || inFlight != state.InFlight.Count || state.Finished.Count + queued + leased != state.Operations.Count)
        {
            return "an index holds entries of operations that are gone";
        }

        var waiting = 0;
        foreach (var (_, level) in state.Queues)
        {
            if (level.Ring.IsEmpty || level.Ring.Count != level.Waiting.Count)
            {
                return "a queue ring does not match its waiting invocations";
            }

            waiting += level.Count;
        }

        if (queued != state.QueuedCount || leased != state.LeasedCount || waiting != queued)
        {
            return Invariant($"counts disagree: {queued} queued ({state.QueuedCount} counted, {waiting} waiting), {leased} leased ({state.LeasedCount} counted)");
        }

        if (state.UnfinishedCount > limits.UnfinishedOperationsMax)
        {
            return Invariant($"{state.UnfinishedCount} unfinished operations exceed the bound of {limits.UnfinishedOperationsMax}");
        }

        if (state.Cache.Count > limits.ActionCacheEntriesMax || state.Cache.Order.Count != state.Cache.Count)
        {
            return "the action cache exceeds its bound or its order index";
        }

        if (state.Usage.Count != state.Workers.Count)
        {
            return "worker usage is kept for workers that are gone";
        }

        foreach (var worker in state.Workers.Values)
        {
            var expected = usage[worker.WorkerId];
            var actual = state.UsageOf(worker.WorkerId);
            if (actual is null || actual.Slots != expected.Slots || actual.CpuMillis != expected.CpuMillis || actual.MemoryBytes != expected.MemoryBytes
                || !actual.GpuMillisByDevice.SequenceEqual(expected.GpuMillisByDevice) || !actual.Leases.SetEquals(expected.Leases))
            {
                return $"worker {worker.WorkerId}'s usage does not match its leases";
            }

            if (worker.Slots == 0 || (ulong)worker.Slots + worker.LeaseAhead > (ulong)limits.WorkerSlotsMax)
            {
                return Invariant($"worker {worker.WorkerId} holds {worker.Slots} slots plus {worker.LeaseAhead} leased ahead, outside 1..{limits.WorkerSlotsMax}");
            }

            // Never over-committed: lease-ahead relaxes the lease count only; CPU, memory and GPUs count every lease held.
            if (expected.Slots > Capacity.LeaseSlots(worker)
                || (worker.CpuMillis > 0 && expected.CpuMillis > worker.CpuMillis)
                || (worker.MemoryBytes > 0 && expected.MemoryBytes > worker.MemoryBytes))
            {
                return Invariant($"worker {worker.WorkerId} is over-committed: {expected.Slots}/{worker.Slots}+{worker.LeaseAhead} leases, {expected.CpuMillis}/{worker.CpuMillis} CPU millis, {expected.MemoryBytes}/{worker.MemoryBytes} bytes");
            }

            foreach (var millis in expected.GpuMillisByDevice)
            {
                if (millis > GpuRequest.DeviceMillis)
                {
                    return $"worker {worker.WorkerId} has a GPU device over-committed";
                }
            }

            if (worker.Retiring && expected.Slots == 0)
            {
                return $"retiring worker {worker.WorkerId} has no leases but was not removed";
            }
        }

        return CheckGraphs(state);
    }

    /// <summary>
    /// Each node is ready exactly when its producers all succeeded and it has not started; a node waits only while some
    /// producer has not; a queued or running node follows an unfinished operation of the same phase, through a link.
    /// </summary>
    private static string? CheckGraphs(SchedulerState state)
    {
        var links = 0;
        foreach (var graph in state.Graphs.Values)
        {
            var unfinished = 0;
            for (var i = 0; i < graph.Nodes.Count; i++)
            {
                var node = graph.Nodes[i];
                var where = $"graph {graph.Id} node '{node.Id}' ({node.Phase})";
                unfinished += GraphRecord.IsFinished(node.Phase) ? 0 : 1;
                if (node.Sequence > graph.Sequence || node.Sequence < 1)
                {
                    return where + " has a sequence number outside the graph's";
                }

                var producersDone = true;
                foreach (var producer in graph.Topology.Producers[i])
                {
                    producersDone &= GraphRecord.Succeeded(graph.Nodes[producer].Phase);
                }

                if ((node.Phase == GraphNodePhase.Waiting && producersDone) || (node.Phase == GraphNodePhase.Ready && !producersDone))
                {
                    return where + (producersDone ? " waits though its producers succeeded" : " is ready though a producer has not succeeded");
                }

                if (graph.Ready.Contains(i) != (node.Phase == GraphNodePhase.Ready))
                {
                    return where + " is wrongly " + (graph.Ready.Contains(i) ? "" : "not ") + "in the ready index";
                }

                if (node.Phase is GraphNodePhase.Queued or GraphNodePhase.Running)
                {
                    links++;
                    var operation = state.FindOperation(node.OperationName);
                    var expected = node.Phase == GraphNodePhase.Queued ? OperationPhase.Queued : OperationPhase.Leased;
                    if (operation is null || operation.Phase != expected)
                    {
                        return $"{where} follows {node.OperationName}, which is {operation?.Phase.ToString() ?? "gone"}";
                    }

                    if (!state.GraphLinks.TryGetValue(node.OperationName, out var linked) || !linked.Contains(new GraphNodeRef(graph.Id, i)))
                    {
                        return where + " is not linked to its operation";
                    }
                }
            }

            if (unfinished != graph.Unfinished || (unfinished > 0 && graph.FinishedAtUnixMs != 0))
            {
                return Invariant($"graph {graph.Id} counts {graph.Unfinished} unfinished nodes, finished at {graph.FinishedAtUnixMs}; {unfinished} are");
            }
        }

        var total = 0;
        foreach (var (_, linked) in state.GraphLinks)
        {
            total += linked.Length;
        }

        return total == links ? null : Invariant($"{total} graph links for {links} queued or running nodes");
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
