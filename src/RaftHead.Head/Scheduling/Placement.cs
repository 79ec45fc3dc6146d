using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// The leader's placement decisions: a pure function of a state, the leader's clock reading and its locality hints.
/// Its grants are proposed as one <see cref="AssignLeases"/> command; the apply re-checks each, so a plan made on a
/// state that moved on is harmless (its stale grants are refused).
/// <para>
/// Order: queues by priority (lower first), then platform; within one queue, invocations round-robin, one operation
/// each per round, each invocation's operations oldest first. An operation still backing off, or that fits no worker
/// now, is passed over, not waited for, so it blocks nobody behind it.
/// </para>
/// <para>
/// Scoring among the workers that fit: the most input bytes already held (locality), then, for an operation that
/// needs no GPU, a worker without GPUs (GPU machines stay free for GPU work), then the most free slots (spread load),
/// then the worker id.
/// </para>
/// </summary>
public static class Placement
{
    /// <param name="inputBytesOnWorker">Leader soft state: bytes of the operation's inputs a worker already holds; null: no hints.</param>
    public static List<LeaseGrant> Plan(SchedulerState state, long nowUnixMs, long leaseTtlMs, int grantsMax, Func<OperationState, string, long>? inputBytesOnWorker = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentOutOfRangeException.ThrowIfLessThan(leaseTtlMs, 1);
        var grants = new List<LeaseGrant>();
        if (grantsMax <= 0 || state.QueuedCount == 0 || state.Workers.Count == 0)
        {
            return grants;
        }

        // What this plan has taken so far, on top of the state's leases.
        var usage = new Dictionary<string, WorkerUsage>(StringComparer.Ordinal);
        var candidatesByPlatform = new Dictionary<string, List<WorkerState>>(StringComparer.Ordinal);
        foreach (var (key, level) in state.Queues)
        {
            if (!candidatesByPlatform.TryGetValue(key.PlatformKey, out var candidates))
            {
                candidates = Candidates(state, level);
                candidatesByPlatform[key.PlatformKey] = candidates;
            }

            if (candidates.Count == 0)
            {
                continue;
            }

            var cursors = new Dictionary<string, IEnumerator<KeyValuePair<long, string>>>(StringComparer.Ordinal);
            var progress = true;
            while (progress && grants.Count < grantsMax)
            {
                progress = false;
                foreach (var invocation in level.Ring)
                {
                    if (grants.Count >= grantsMax)
                    {
                        break;
                    }

                    if (!cursors.TryGetValue(invocation, out var cursor))
                    {
                        cursor = level.Waiting[invocation].GetEnumerator();
                        cursors[invocation] = cursor;
                    }

                    while (cursor.MoveNext())
                    {
                        var operation = state.Operations[cursor.Current.Value];
                        if (operation.NotBeforeUnixMs > nowUnixMs)
                        {
                            continue;
                        }

                        // Capacity only shrinks during a plan, so an operation that fits nowhere now is done with.
                        var chosen = Choose(state, operation, candidates, usage, inputBytesOnWorker);
                        if (chosen is null)
                        {
                            continue;
                        }

                        var (worker, devices) = chosen.Value;
                        usage[worker.WorkerId] = UsageOf(state, usage, worker.WorkerId).Plus(operation.Resources, devices);
                        grants.Add(new LeaseGrant
                        {
                            OperationName = operation.Name,
                            WorkerId = worker.WorkerId,
                            Attempt = operation.Attempt,
                            ExpiresAtUnixMs = nowUnixMs + leaseTtlMs,
                        });
                        progress = true;
                        break;
                    }
                }
            }
        }

        return grants;
    }

    private static List<WorkerState> Candidates(SchedulerState state, QueueLevel level)
    {
        // Every operation of one queue has the same platform up to value case, which matching ignores.
        var sample = state.Operations[level.Waiting[level.Ring[0]].First().Value].Platform;
        var candidates = new List<WorkerState>();
        foreach (var worker in state.Workers.Values)
        {
            if (!worker.Retiring && PlatformRules.Satisfies(worker.Platform, sample))
            {
                candidates.Add(worker);
            }
        }

        return candidates;
    }

    private static (WorkerState Worker, uint[] Devices)? Choose(
        SchedulerState state,
        OperationState operation,
        List<WorkerState> candidates,
        Dictionary<string, WorkerUsage> usage,
        Func<OperationState, string, long>? inputBytesOnWorker)
    {
        (WorkerState Worker, uint[] Devices)? best = null;
        (long Locality, bool GpuFit, long FreeSlots) bestScore = default;
        var wantsGpu = operation.Resources.GpuMillis > 0;
        foreach (var worker in candidates)
        {
            var held = UsageOf(state, usage, worker.WorkerId);
            var devices = Capacity.TryFit(worker, held, operation.Resources);
            if (devices is null)
            {
                continue;
            }

            var score = (inputBytesOnWorker?.Invoke(operation, worker.WorkerId) ?? 0, wantsGpu || worker.Gpus == 0, (long)worker.Slots - held.Slots);
            if (best is null || Better(score, bestScore))
            {
                best = (worker, devices);
                bestScore = score;
            }
        }

        return best;
    }

    private static bool Better((long Locality, bool GpuFit, long FreeSlots) a, (long Locality, bool GpuFit, long FreeSlots) b)
    {
        if (a.Locality != b.Locality)
        {
            return a.Locality > b.Locality;
        }

        if (a.GpuFit != b.GpuFit)
        {
            return a.GpuFit;
        }

        // Equal scores keep the earlier worker id (candidates come in id order).
        return a.FreeSlots > b.FreeSlots;
    }

    private static WorkerUsage UsageOf(SchedulerState state, Dictionary<string, WorkerUsage> usage, string workerId) =>
        usage.TryGetValue(workerId, out var planned) ? planned : state.Usage[workerId];
}
