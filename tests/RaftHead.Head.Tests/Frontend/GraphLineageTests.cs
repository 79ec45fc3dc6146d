using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol.V1;
using RaftHead.Storage;

namespace RaftHead.Head.Tests.Frontend;

/// <summary>
/// Lineage: an intermediate output that is gone from the CAS when its consumer is composed makes the leader run its
/// producer again (not answered from the action cache, whose entry now points at the lost blob), then the consumer.
/// The test is the worker: it leases and completes through the worker protocol.
/// </summary>
public sealed class GraphLineageTests
{
    [Fact]
    public async Task A_lost_intermediate_output_is_regenerated_by_running_its_producer_again()
    {
        ForgettingBlobStore? forgetting = null;
        await using var head = await FrontendFixture.StartAsync(frontendBlobs: store => forgetting = new ForgettingBlobStore(store));
        await head.RegisterAsync("w");
        var graph = new SubmitGraphRequest { GraphId = "lineage" };
        graph.Nodes.Add(new GraphNode { Id = "gen", Arguments = { "/bin/gen" }, OutputPaths = { "out.txt" } });
        graph.Nodes.Add(new GraphNode { Id = "use", Arguments = { "/bin/use" }, OutputPaths = { "done" }, Inputs = { new NodeInput { Node = "gen", Output = "out.txt" } } });
        await head.Rpc.Graphs.SubmitGraphAsync(graph);

        var output = await head.PutAsync("generated"u8.ToArray());
        var first = await head.LeaseAsync("w");

        // The output is gone by the time the leader composes its consumer.
        forgetting!.Hidden[output] = true;
        await CompleteAsync(head, first, output);
        var again = await head.LeaseAsync("w");
        Assert.NotEqual(first.OperationName, again.OperationName);
        Assert.Equal(first.ActionDigest, again.ActionDigest);
        Assert.Equal(GraphNodePhase.Running, Node(head, "gen").Phase);
        Assert.Equal(GraphNodePhase.Waiting, Node(head, "use").Phase);

        // The second run stores it again; the consumer now runs with it in its input root.
        forgetting.Hidden.TryRemove(output, out _);
        await CompleteAsync(head, again, output);
        var use = await head.LeaseAsync("w");
        Assert.Equal(Node(head, "use").OperationName, use.OperationName);
        await CompleteAsync(head, use, output);
        await FrontendFixture.UntilAsync(() => head.State.FindGraph("lineage")!.Done, "the graph to finish");
        Assert.Equal(2u, Node(head, "gen").Runs);
        Assert.Equal(1u, Node(head, "use").Runs);
        Assert.Equal(GraphNodePhase.Completed, Node(head, "use").Phase);
    }

    private static GraphNodeStatus Node(FrontendFixture head, string id) => head.State.FindGraph("lineage")!.FindNode(id)!;

    private static async Task CompleteAsync(FrontendFixture head, WorkLease lease, Digest output)
    {
        var result = new ActionResult { ExitCode = 0, OutputFiles = { new OutputFile { Path = "out.txt", Digest = output } } };
        var response = await head.Workers.CompleteAsync(new WorkerCompleteRequest { WorkerId = "w", OperationName = lease.OperationName, Attempt = lease.Attempt, Result = result });
        Assert.True(response.Accepted);
    }

    /// <summary>The CAS with some blobs gone, as after an eviction: absent to FindMissing and to reads.</summary>
    private sealed class ForgettingBlobStore(IBlobStore inner) : IBlobStore
    {
        public ConcurrentDictionary<Digest, bool> Hidden { get; } = new();

        public async ValueTask FindMissingAsync(string instanceName, IReadOnlyList<Digest> digests, List<Digest> missing, CancellationToken cancellationToken)
        {
            var shown = new List<Digest>();
            foreach (var digest in digests)
            {
                if (Hidden.ContainsKey(digest))
                {
                    missing.Add(digest);
                }
                else
                {
                    shown.Add(digest);
                }
            }

            await inner.FindMissingAsync(instanceName, shown, missing, cancellationToken);
        }

        public ValueTask PutAsync(string instanceName, Digest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => inner.PutAsync(instanceName, digest, data, cancellationToken);

        public IBlobWriter BeginWrite(string instanceName, Digest digest) => inner.BeginWrite(instanceName, digest);

        public ValueTask<Stream?> OpenReadAsync(string instanceName, Digest digest, long offset, long limit, CancellationToken cancellationToken) =>
            Hidden.ContainsKey(digest) ? ValueTask.FromResult<Stream?>(null) : inner.OpenReadAsync(instanceName, digest, offset, limit, cancellationToken);

        public IDisposable Pin(string instanceName, Digest digest) => inner.Pin(instanceName, digest);
    }
}
