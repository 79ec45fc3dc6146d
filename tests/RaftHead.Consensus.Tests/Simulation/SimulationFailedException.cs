namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>An invariant violation found by the simulator; the message always starts with the seed that replays it.</summary>
public sealed class SimulationFailedException : Exception
{
    public SimulationFailedException(int seed, string message)
        : base($"seed {seed}: {message}\nReplay: RAFT_SEED={seed} dotnet test tests/RaftHead.Consensus.Tests -c Release --filter FullyQualifiedName~SimulatorTests.Replay")
    {
        Seed = seed;
    }

    public int Seed { get; }
}
