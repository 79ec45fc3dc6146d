using System.Collections.Immutable;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>What a worker's live leases hold. Derived from the leases; never encoded on its own.</summary>
public sealed record WorkerUsage(int Slots, long CpuMillis, ulong MemoryBytes, ImmutableArray<uint> GpuMillisByDevice)
{
    public static WorkerUsage For(uint gpus) => new(0, 0, 0, ImmutableArray.Create(new uint[gpus]));

    public WorkerUsage Plus(ResourceRequest resources, IReadOnlyList<uint> devices)
    {
        var gpu = GpuMillisByDevice.ToBuilder();
        var perDevice = PerDevice(resources);
        foreach (var device in devices)
        {
            gpu[(int)device] += perDevice;
        }

        return new WorkerUsage(Slots + 1, CpuMillis + resources.CpuMillis, MemoryBytes + resources.MemoryBytes, gpu.ToImmutable());
    }

    public WorkerUsage Minus(ResourceRequest resources, IReadOnlyList<uint> devices)
    {
        var gpu = GpuMillisByDevice.ToBuilder();
        var perDevice = PerDevice(resources);
        foreach (var device in devices)
        {
            gpu[(int)device] -= perDevice;
        }

        return new WorkerUsage(Slots - 1, CpuMillis - resources.CpuMillis, MemoryBytes - resources.MemoryBytes, gpu.ToImmutable());
    }

    private static uint PerDevice(ResourceRequest resources) =>
        GpuRequest.IsShare(resources.GpuMillis) ? resources.GpuMillis : GpuRequest.DeviceMillis;
}
