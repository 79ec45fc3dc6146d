using RaftHead.Testing;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>The layout every multi-node test uses: nodes 1..N on free loopback ports, each with its own data directory.</summary>
public static class LoopbackCluster
{
    /// <param name="count">Nodes, ids 1..count.</param>
    /// <param name="dataRoot">Each node's data directory is <c>node{id}</c> below it.</param>
    /// <param name="tune">The test's own settings on top of the layout (ticks, thresholds...).</param>
    public static Dictionary<long, NodeHostOptions> Options(int count, string dataRoot, Func<NodeHostOptions, NodeHostOptions>? tune = null)
    {
        var ports = Ports.Free(count);
        var members = Enumerable.Range(1, count).ToDictionary(i => (long)i, i => $"127.0.0.1:{ports[i - 1]}");
        return members.Keys.ToDictionary(id => id, id =>
        {
            var options = new NodeHostOptions
            {
                Id = id,
                Port = ports[id - 1],
                Members = members,
                DataDirectory = Path.Combine(dataRoot, $"node{id}"),
            };
            return tune is null ? options : tune(options);
        });
    }
}
