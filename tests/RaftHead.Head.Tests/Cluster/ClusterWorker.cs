using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Head.Tests.Execution;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Testing;
using RaftHead.Worker.Agent;

namespace RaftHead.Head.Tests.Cluster;

/// <summary>A worker of <see cref="ThreeHeads"/> with one slot whose runs the test finishes (<see cref="FakeActionRunner"/>).</summary>
internal sealed class ClusterWorker(InProcessWorker worker, FakeActionRunner runner, TempDirectory data) : IAsyncDisposable
{
    public FakeActionRunner Runner { get; } = runner;

    /// <summary>Blobs go to one head; the worker reads that head's CAS directly (blob replication is not under test here).</summary>
    public static async Task<ClusterWorker> StartAsync(ThreeHeads cluster, long blobsOn)
    {
        var runner = new FakeActionRunner();
        var data = new TempDirectory("rh-three-heads-worker-");
        var worker = await InProcessWorker.StartAsync(
            [cluster.Members[blobsOn], .. cluster.Members.Values],
            cluster.Head(blobsOn).Blobs,
            runner,
            new WorkerAgentOptions { DataDirectory = data.Path, Slots = 1, StopGraceMs = 0 },
            CancellationToken.None);
        return new ClusterWorker(worker, runner, data);
    }

    /// <summary>Stores a blob through a head's CAS service.</summary>
    public static async Task<Digest> PutAsync(ReapiClients clients, ByteString bytes)
    {
        var digest = Digests.Compute(bytes.Span);
        var response = await clients.Cas.BatchUpdateBlobsAsync(new BatchUpdateBlobsRequest
        {
            Requests = { new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = bytes } },
        }).ResponseAsync;
        Assert.Equal(0, response.Responses[0].Status.Code);
        return digest;
    }

    public async ValueTask DisposeAsync()
    {
        await worker.DisposeAsync();
        data.Dispose();
    }
}
