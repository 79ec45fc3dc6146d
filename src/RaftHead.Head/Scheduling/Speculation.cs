using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>When a running action counts as a straggler, per instance name.</summary>
public sealed record SpeculationOptions
{
    public bool Enabled { get; init; } = true;

    /// <summary>A run is a straggler past this multiple of its class's median run.</summary>
    public double MedianMultiple { get; init; } = 2.0;

    /// <summary>And never before this long: short actions are not worth a second run.</summary>
    public long FloorMs { get; init; } = 2_000;

    /// <summary>Runs of a class needed before its median is trusted.</summary>
    public int SamplesMin { get; init; } = 3;

    /// <summary>
    /// The share of completed runs (exit 0, not do_not_cache) run once more to compare outputs, 0 to 1. Off by default:
    /// a verification run takes a slot like any other work.
    /// </summary>
    public double VerifySampleRate { get; init; }

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MedianMultiple, 1.0);
        ArgumentOutOfRangeException.ThrowIfNegative(FloorMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(SamplesMin, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(VerifySampleRate, 0.0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(VerifySampleRate, 1.0);
    }
}

/// <summary>
/// The leader's straggler decisions, a pure function of a state, its clock, its running-time statistics and the
/// options: speculative clones to propose as one <see cref="AssignLeases"/> (the apply re-checks each grant).
/// <para>
/// Speculation only uses capacity nothing else wants: none while any operation waits in a queue, and a clone only on a
/// worker with a slot free (lease-ahead places do not count), never the original's. One clone per running attempt;
/// the longest-running stragglers first, each to the worker with the most free slots (ties by worker id).
/// </para>
/// </summary>
public static class Speculation
{
    /// <summary>
    /// The verification run of a completed operation, when it is one to verify: it ran (no cache hit), succeeded, may be
    /// cached, is no verification itself, and falls in the sample (by a hash of its name, so every leader picks alike).
    /// Its request id is derived from the operation, so a second proposal of it, by any leader, is a duplicate.
    /// </summary>
    public static SubmitAction? Verification(OperationState operation, SpeculationOptions options, string operationNameSeed, long nowUnixMs)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(options);
        if (options.VerifySampleRate <= 0 || operation.Phase != OperationPhase.Completed || operation.CachedResult || operation.DoNotCache
            || operation.Verifies.Length > 0 || operation.Status.Code != 0 || operation.Result.ExitCode != 0 || !Sampled(operation.Name, options.VerifySampleRate))
        {
            return null;
        }

        var submit = new SubmitAction
        {
            RequestId = "verify/" + operation.Name,
            OperationNameSeed = operationNameSeed,
            SubmittedAtUnixMs = nowUnixMs,
            InstanceName = operation.InstanceName,
            ToolInvocationId = operation.ToolInvocationId,
            ActionDigest = operation.ActionDigest,
            Platform = operation.Platform,
            Priority = operation.Priority,
            Resources = operation.Resources,
            DoNotCache = true,
            SkipCacheLookup = true,
            ActionClass = operation.ActionClass,
            ToolClass = operation.ToolClass,
            Verifies = operation.Name,
        };
        submit.InputHints.Add(operation.InputHints);
        return submit;
    }

    /// <summary>Whether a name falls in a sample of the given share: FNV-1a of its characters, the same on every machine.</summary>
    public static bool Sampled(string name, double rate)
    {
        var hash = 2166136261u;
        foreach (var c in name)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash < rate * uint.MaxValue;
    }

    public static List<LeaseGrant> Plan(SchedulerState state, long nowUnixMs, RunningTimes times, Func<string, SpeculationOptions> optionsOf, long leaseTtlMs, int grantsMax)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(times);
        ArgumentNullException.ThrowIfNull(optionsOf);
        var grants = new List<LeaseGrant>();
        if (grantsMax <= 0 || state.QueuedCount > 0 || state.LeasedCount == 0)
        {
            return grants;
        }

        var free = new List<(WorkerState Worker, WorkerUsage Usage, int FreeSlots)>();
        foreach (var (id, worker) in state.Workers)
        {
            var usage = state.Usage[id];
            var freeSlots = (int)worker.Slots - usage.Slots;
            if (freeSlots > 0 && Capacity.TakesNewLeases(worker))
            {
                free.Add((worker, usage, freeSlots));
            }
        }

        if (free.Count == 0)
        {
            return grants;
        }

        var stragglers = new List<(long RunningMs, OperationState Operation)>();
        foreach (var (id, _) in state.Workers)
        {
            foreach (var name in state.Usage[id].Leases)
            {
                var operation = state.Operations[name];
                if (operation.Lease.WorkerId != id || operation.CloneLease is not null || operation.Attempts.Count > operation.Attempt)
                {
                    continue; // a clone's lease, or an attempt cloned already
                }

                var options = optionsOf(operation.InstanceName);
                var running = nowUnixMs - operation.Lease.LeasedAtUnixMs;
                if (!options.Enabled || running < options.FloorMs || times.MedianMs(operation, options.SamplesMin) is not { } median
                    || running < median * options.MedianMultiple)
                {
                    continue;
                }

                stragglers.Add((running, operation));
            }
        }

        stragglers.Sort((a, b) => b.RunningMs != a.RunningMs ? b.RunningMs.CompareTo(a.RunningMs) : string.CompareOrdinal(a.Operation.Name, b.Operation.Name));
        foreach (var (_, operation) in stragglers)
        {
            if (grants.Count >= grantsMax)
            {
                break;
            }

            var best = -1;
            for (var i = 0; i < free.Count; i++)
            {
                var (worker, usage, freeSlots) = free[i];
                if (freeSlots > 0 && worker.WorkerId != operation.Lease.WorkerId
                    && PlatformRules.Satisfies(worker.Platform, operation.Platform)
                    && Capacity.TryFit(worker, usage, operation.Resources) is not null
                    && (best < 0 || freeSlots > free[best].FreeSlots))
                {
                    best = i;
                }
            }

            if (best < 0)
            {
                continue;
            }

            var chosen = free[best];
            free[best] = (chosen.Worker, chosen.Usage.Plus(operation.Name, operation.Resources, []), chosen.FreeSlots - 1);
            grants.Add(new LeaseGrant
            {
                OperationName = operation.Name,
                WorkerId = chosen.Worker.WorkerId,
                Attempt = (uint)operation.Attempts.Count + 1,
                ExpiresAtUnixMs = nowUnixMs + leaseTtlMs,
                Speculative = true,
            });
        }

        return grants;
    }
}
