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
/// needs no GPU, a worker without GPUs (GPU machines stay free for GPU work), then the most free slots (spread load);
/// equal scores take turns, starting after the worker chosen last. A worker with lease-ahead also takes work with no
/// slot free, to queue (see <see cref="Capacity.LeaseSlots"/>); its free slots are then zero or fewer, so an idle slot
/// elsewhere wins.
/// </para>
/// </summary>
public static class Placement
{
    /// <param name="inputBytesOnWorker">Leader soft state: bytes of the operation's inputs a worker already holds; null: no hints.</param>
    /// <param name="cache">What earlier plans of the same caller derived from the same worker set; null: none kept.</param>
    public static List<LeaseGrant> Plan(SchedulerState state, long nowUnixMs, long leaseTtlMs, int grantsMax, Func<OperationState, string, long>? inputBytesOnWorker = null, PlacementCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentOutOfRangeException.ThrowIfLessThan(leaseTtlMs, 1);
        var grants = new List<LeaseGrant>();
        if (grantsMax <= 0 || state.QueuedCount == 0 || state.Workers.Count == 0)
        {
            return grants;
        }

        // Workers by position (id order), with what they hold including this plan's grants so far.
        cache ??= new PlacementCache();
        var layout = cache.LayoutOf(state);
        var workers = layout.Workers;
        var usage = layout.UsageOf(state);

        var candidatesByPlatform = new Dictionary<string, CandidateSet>(StringComparer.Ordinal);
        foreach (var (key, level) in state.Queues)
        {
            if (!candidatesByPlatform.TryGetValue(key.PlatformKey, out var candidates))
            {
                candidates = new CandidateSet(layout.CandidatesOf(state, key.PlatformKey, level), workers, usage, layout.SlotsMax);
                candidatesByPlatform[key.PlatformKey] = candidates;
            }

            var cursors = new Dictionary<string, IEnumerator<KeyValuePair<long, string>>>(StringComparer.Ordinal);
            var progress = true;
            while (progress && grants.Count < grantsMax && candidates.FreeSlots > 0)
            {
                progress = false;
                foreach (var invocation in level.Ring)
                {
                    if (grants.Count >= grantsMax || candidates.FreeSlots == 0)
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
                        var (chosen, devices) = Choose(operation, candidates, workers, usage, inputBytesOnWorker);
                        if (chosen < 0)
                        {
                            continue;
                        }

                        var freeBefore = (int)workers[chosen].Slots - usage[chosen].Slots;
                        usage[chosen] = Held(usage[chosen], operation, devices!);
                        foreach (var set in candidatesByPlatform.Values)
                        {
                            set.Took(chosen, workers[chosen], freeBefore);
                        }

                        grants.Add(new LeaseGrant
                        {
                            OperationName = operation.Name,
                            WorkerId = workers[chosen].WorkerId,
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

    /// <summary>
    /// What a grant adds to a worker's usage within a plan: the same amounts as the lease's apply adds, without the
    /// lease's name (a plan never reads it, and keeping the set of names sorted was most of a grant's cost).
    /// </summary>
    private static WorkerUsage Held(WorkerUsage usage, OperationState operation, uint[] devices) =>
        devices.Length > 0
            ? usage.Plus(operation.Name, operation.Resources, devices)
            : usage with { Slots = usage.Slots + 1, CpuMillis = usage.CpuMillis + operation.Resources.CpuMillis, MemoryBytes = usage.MemoryBytes + operation.Resources.MemoryBytes };

    /// <summary>
    /// The best worker for the operation, scanning the candidates from the one after the last chosen (so equal scores
    /// take turns). Without locality hints, a worker without GPUs for an operation that needs none and with the most
    /// free slots any such worker has cannot be beaten, so the scan stops there: placing is then near constant time
    /// per grant instead of linear in the workers.
    /// </summary>
    private static (int Position, uint[]? Devices) Choose(
        OperationState operation,
        CandidateSet candidates,
        WorkerState[] workers,
        WorkerUsage[] usage,
        Func<OperationState, string, long>? inputBytesOnWorker)
    {
        var best = -1;
        var bestAt = -1;
        uint[]? bestDevices = null;
        (long Locality, bool GpuFit, long FreeSlots) bestScore = default;
        var wantsGpu = operation.Resources.GpuMillis > 0;
        var unbeatable = inputBytesOnWorker is null && !wantsGpu ? candidates.MaxGpulessFree : int.MaxValue;
        var count = candidates.Positions.Length;
        for (var step = 0; step < count; step++)
        {
            var at = (candidates.Cursor + step) % count;
            var i = candidates.Positions[at];
            var worker = workers[i];
            if (usage[i].Slots >= Capacity.LeaseSlots(worker))
            {
                continue;
            }

            var free = (int)worker.Slots - usage[i].Slots;

            var devices = Capacity.TryFit(worker, usage[i], operation.Resources);
            if (devices is null)
            {
                continue;
            }

            var score = (inputBytesOnWorker?.Invoke(operation, worker.WorkerId) ?? 0, wantsGpu || worker.Gpus == 0, (long)free);
            if (best < 0 || Better(score, bestScore))
            {
                best = i;
                bestAt = at;
                bestDevices = devices;
                bestScore = score;
                if (worker.Gpus == 0 && free >= unbeatable)
                {
                    break;
                }
            }
        }

        if (best >= 0)
        {
            candidates.Cursor = (bestAt + 1) % count;
        }

        return (best, bestDevices);
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

        // Equal scores keep the one met first.
        return a.FreeSlots > b.FreeSlots;
    }

    /// <summary>
    /// The workers one platform may use (positions in id order) and what this plan has left of them: leases they may
    /// still take in all (none left: the platform's queues are skipped), and how many GPU-less workers have each number
    /// of free slots, which gives the best free-slot count such a worker has.
    /// </summary>
    private sealed class CandidateSet
    {
        private readonly bool[] _contains;
        private readonly int[] _gpulessByFree;

        public CandidateSet(int[] positions, WorkerState[] workers, WorkerUsage[] usage, int slotsMax)
        {
            Positions = positions;
            _contains = new bool[workers.Length];
            _gpulessByFree = new int[slotsMax + 1];
            foreach (var i in positions)
            {
                Add(i, workers[i], Capacity.LeaseSlots(workers[i]) - usage[i].Slots, (int)workers[i].Slots - usage[i].Slots);
            }
        }

        /// <summary>Positions of the platform's workers, in id order (shared with the cache: never changed here).</summary>
        public int[] Positions { get; }

        public int FreeSlots { get; private set; }

        public int MaxGpulessFree { get; private set; }

        /// <summary>Where the next scan starts in <see cref="Positions"/>.</summary>
        public int Cursor { get; set; }

        private void Add(int position, WorkerState worker, int leasesFree, int free)
        {
            _contains[position] = true;
            FreeSlots += leasesFree;
            if (worker.Gpus == 0 && free > 0)
            {
                _gpulessByFree[free]++;
                MaxGpulessFree = Math.Max(MaxGpulessFree, free);
            }
        }

        public void Took(int position, WorkerState worker, int freeBefore)
        {
            if (!_contains[position])
            {
                return;
            }

            FreeSlots--;
            if (worker.Gpus != 0 || freeBefore <= 0)
            {
                return;
            }

            _gpulessByFree[freeBefore]--;
            if (freeBefore > 1)
            {
                _gpulessByFree[freeBefore - 1]++;
            }

            while (MaxGpulessFree > 0 && _gpulessByFree[MaxGpulessFree] == 0)
            {
                MaxGpulessFree--;
            }
        }
    }
}
