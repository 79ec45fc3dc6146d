using RaftHead.Consensus.Log;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>Stable storage the simulator can crash: whatever was not synced may be lost, partly or wholly.</summary>
public interface ISimulatedDisk : IRaftStorage, IDisposable
{
    /// <summary>Models a power cut; returns the storage a restarted process would open.</summary>
    ISimulatedDisk Crash(Random random);
}
