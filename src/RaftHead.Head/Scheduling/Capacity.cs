using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// Whether a request fits what a worker has left, and which GPU devices it takes. Used by the planner to decide and
/// by the apply to validate, so both agree. A worker that declares 0 CPU or 0 memory does not account for it (only
/// its slots bound it); a worker with 0 GPUs fits no GPU request.
/// </summary>
public static class Capacity
{
    /// <summary>Whether the worker may be given new leases at all: it is neither retiring nor quarantined.</summary>
    public static bool TakesNewLeases(WorkerState worker) => !worker.Retiring && worker.QuarantineReason.Length == 0;

    /// <summary>
    /// Leases the worker may hold: its slots plus the leases it queues ahead of a free slot. CPU, memory and GPUs are
    /// not relaxed by lease-ahead, so a queued lease holds its share of them as a running one does.
    /// </summary>
    public static int LeaseSlots(WorkerState worker) => (int)worker.Slots + (int)worker.LeaseAhead;

    /// <summary>
    /// The devices the request would take, or null when it does not fit. A share goes to the fullest device it still
    /// fits on (best fit, lowest index on ties), keeping whole devices free for whole-device requests; whole devices
    /// are the lowest-indexed idle ones.
    /// </summary>
    public static uint[]? TryFit(WorkerState worker, WorkerUsage usage, ResourceRequest resources)
    {
        if (usage.Slots + 1 > LeaseSlots(worker))
        {
            return null;
        }

        if (worker.CpuMillis > 0 && usage.CpuMillis + resources.CpuMillis > worker.CpuMillis)
        {
            return null;
        }

        if (worker.MemoryBytes > 0 && usage.MemoryBytes + resources.MemoryBytes > worker.MemoryBytes)
        {
            return null;
        }

        var gpu = resources.GpuMillis;
        if (gpu == 0)
        {
            return Array.Empty<uint>();
        }

        var devices = usage.GpuMillisByDevice;
        if (GpuRequest.IsShare(gpu))
        {
            var best = -1;
            for (var d = 0; d < devices.Length; d++)
            {
                if (devices[d] + gpu <= GpuRequest.DeviceMillis && (best < 0 || devices[d] > devices[best]))
                {
                    best = d;
                }
            }

            return best < 0 ? null : new[] { (uint)best };
        }

        var wanted = GpuRequest.WholeDevices(gpu);
        var taken = new uint[wanted];
        var found = 0;
        for (var d = 0; d < devices.Length && found < wanted; d++)
        {
            if (devices[d] == 0)
            {
                taken[found++] = (uint)d;
            }
        }

        return found == wanted ? taken : null;
    }
}
