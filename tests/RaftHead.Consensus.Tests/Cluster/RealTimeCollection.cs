namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// Tests that run real drivers on wall-clock time, real sockets and fsyncs. xUnit runs this collection alone,
/// after the parallel ones, so the CPU-bound simulator does not stretch election timeouts or failover times.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealTimeCollection
{
    public const string Name = "Real time";
}
