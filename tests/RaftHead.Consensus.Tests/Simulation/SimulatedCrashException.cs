namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>Thrown from inside a node's I/O to cut its process at that exact point; the simulator catches it.</summary>
public sealed class SimulatedCrashException : Exception
{
    public SimulatedCrashException()
        : base("simulated power cut")
    {
    }

    public SimulatedCrashException(string message)
        : base(message)
    {
    }

    public SimulatedCrashException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
