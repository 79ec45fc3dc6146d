using System.Collections.Immutable;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// What a worker's live leases hold, and which operations they are (so a worker's leases are found without a scan of
/// every operation: at a thousand workers that scan ran on every lease change). Derived from the leases; never encoded
/// on its own. <see cref="Slots"/> counts the leases held, running or queued on the worker ahead of a free slot, so it
/// may exceed the worker's slots by up to its lease-ahead (see <see cref="Capacity.LeaseSlots"/>).
/// </summary>
public sealed record WorkerUsage(int Slots, long CpuMillis, ulong MemoryBytes, ImmutableArray<uint> GpuMillisByDevice, ImmutableSortedSet<string> Leases)
{
    private static readonly ImmutableSortedSet<string> NoLeases = ImmutableSortedSet.Create<string>(StringComparer.Ordinal);

    public static WorkerUsage For(uint gpus) => new(0, 0, 0, ImmutableArray.Create(new uint[gpus]), NoLeases);

    public WorkerUsage Plus(string operationName, ResourceRequest resources, IReadOnlyList<uint> devices)
    {
        var gpu = GpuMillisByDevice.ToBuilder();
        var perDevice = PerDevice(resources);
        foreach (var device in devices)
        {
            gpu[(int)device] += perDevice;
        }

        return new WorkerUsage(Slots + 1, CpuMillis + resources.CpuMillis, MemoryBytes + resources.MemoryBytes, gpu.ToImmutable(), Leases.Add(operationName));
    }

    public WorkerUsage Minus(string operationName, ResourceRequest resources, IReadOnlyList<uint> devices)
    {
        var gpu = GpuMillisByDevice.ToBuilder();
        var perDevice = PerDevice(resources);
        foreach (var device in devices)
        {
            gpu[(int)device] -= perDevice;
        }

        return new WorkerUsage(Slots - 1, CpuMillis - resources.CpuMillis, MemoryBytes - resources.MemoryBytes, gpu.ToImmutable(), Leases.Remove(operationName));
    }

    private static uint PerDevice(ResourceRequest resources) =>
        GpuRequest.IsShare(resources.GpuMillis) ? resources.GpuMillis : GpuRequest.DeviceMillis;
}
