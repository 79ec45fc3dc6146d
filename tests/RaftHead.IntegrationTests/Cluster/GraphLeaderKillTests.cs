using Build.Bazel.Remote.Execution.V2;
using Grpc.Core;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Testing;
using Xunit.Abstractions;

namespace RaftHead.IntegrationTests.Cluster;

/// <summary>
/// An action graph on a real cluster (<c>rh up</c>) whose leader is killed with <c>kill -9</c> while a node runs: the
/// graph still completes, every node once, and a client watching the leader picks up its watch on another head from
/// the last sequence number it saw, missing no change and seeing none twice.
/// </summary>
[Collection(RhUpCluster.Collection)]
public sealed class GraphLeaderKillTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);

    [Fact(Timeout = 240_000)]
    public async Task A_graph_completes_through_kill_9_of_the_leader_and_its_watch_resumes_on_another_head()
    {
        using var temp = new TempDirectory();
        var runs = LeaderKillTests.RunLogIn(temp);
        var gate = Path.Combine(Path.GetDirectoryName(runs)!, "gate");
        await using var cluster = await RhUpCluster.StartAsync(temp.Path, workers: 2, slots: 1);
        using var channels = new GrpcChannels(new GrpcChannelSettings { RetryAttemptsMax = 3 });
        try
        {
            var graph = new SubmitGraphRequest { GraphId = "through-failover" };
            graph.Nodes.Add(Node("first", $"echo first >> {runs}; i=0; while [ ! -e {gate} ]; do i=$((i+1)); [ $i -le 1800 ] || exit 3; sleep 0.1; done; echo 21 > n.txt", "n.txt"));
            var second = Node("second", $"echo second >> {runs}; echo $(( $(cat n.txt) * 2 )) > answer.txt", "answer.txt");
            second.Inputs.Add(new NodeInput { Node = "first", Output = "n.txt" });
            graph.Nodes.Add(second);

            var leader = (int)cluster.LeaderAtStart - 1;
            await new ReapiClients(channels.For(cluster.Heads[leader])).Graphs.SubmitGraphAsync(graph, deadline: DateTime.UtcNow.Add(StepTimeout));

            // Watch the leader itself, so its death breaks the stream.
            var seen = new List<GraphEvent>();
            using var cts = new CancellationTokenSource(StepTimeout * 3);
            var broken = await WatchUntilAsync(channels, cluster.Heads[leader], 0, seen, e => e.Node is { Id: "first", Phase: GraphNodePhase.Running }, cts.Token);
            Assert.False(broken, "the watch broke before the first node ran");
            var (killed, pid) = await cluster.KillLeaderAsync(channels);
            Assert.Equal(leader + 1, killed);
            File.WriteAllText(gate, "");

            // Resume on the other heads, after the last sequence seen, until the graph finishes.
            var resumedAt = seen[^1].Node.Sequence;
            var resumes = 0;
            while (!seen[^1].GraphFinished)
            {
                var head = cluster.Heads[(leader + 1 + (resumes % 2)) % 3];
                resumes++;
                Assert.True(resumes < 50, "the watch kept breaking");
                await WatchUntilAsync(channels, head, seen[^1].Node.Sequence, seen, _ => false, cts.Token);
            }

            var sequences = seen.Select(e => e.Node.Sequence).ToList();
            Assert.Equal(sequences.Distinct().Order(), sequences);
            Assert.Contains(seen, e => e.Node.Sequence > resumedAt && e.Node is { Id: "second", Phase: GraphNodePhase.Completed });

            var status = await new ReapiClients(channels.For(cluster.Heads[(leader + 1) % 3])).Graphs.GetGraphAsync(new GetGraphRequest { GraphId = graph.GraphId }, deadline: DateTime.UtcNow.Add(StepTimeout));
            Assert.All(status.Nodes, n => Assert.Equal(GraphNodePhase.Completed, n.Phase));
            Assert.All(status.Nodes, n => Assert.Equal(1u, n.Runs));
            var answer = status.Nodes[1].Result.OutputFiles.Single().Digest;
            var bytes = await new ReapiClients(channels.For(cluster.Heads[(leader + 1) % 3])).Cas.BatchReadBlobsAsync(new BatchReadBlobsRequest { Digests = { answer } });
            Assert.Equal("42\n", bytes.Responses.Single().Data.ToStringUtf8());

            // Each node's command ran once: the run log outside the sandbox has one line per start.
            Assert.Equal(["first", "second"], File.ReadAllLines(runs));
            output.WriteLine($"leader {killed} (pid {pid}) killed while 'first' ran; watch resumed after sequence {resumedAt} ({resumes} resume(s)); events: {string.Join(", ", seen.Select(e => $"{e.Node.Sequence}:{e.Node.Id}={e.Node.Phase}"))}");
        }
        catch
        {
            output.WriteLine(cluster.Up.Log);
            throw;
        }
        finally
        {
            File.WriteAllText(gate, "");
        }
    }

    private static GraphNode Node(string id, string script, string output) => new()
    {
        Id = id,
        Arguments = { "/bin/sh", "-c", script },
        EnvironmentVariables = { new Command.Types.EnvironmentVariable { Name = "PATH", Value = "/usr/bin:/bin" } },
        OutputPaths = { output },
    };

    /// <summary>Reads a watch into <paramref name="seen"/> until <paramref name="stop"/> holds for an event (false) or the stream ends or breaks (true).</summary>
    private static async Task<bool> WatchUntilAsync(GrpcChannels channels, string head, long after, List<GraphEvent> seen, Func<GraphEvent, bool> stop, CancellationToken cancellationToken)
    {
        try
        {
            using var call = new ReapiClients(channels.For(head)).Graphs.WatchGraph(new WatchGraphRequest { GraphId = "through-failover", AfterSequence = after }, cancellationToken: cancellationToken);
            while (await call.ResponseStream.MoveNext(cancellationToken))
            {
                seen.Add(call.ResponseStream.Current);
                if (stop(call.ResponseStream.Current))
                {
                    return false;
                }
            }

            return true;
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Cancelled)
        {
            return true;
        }
    }
}
