using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.Client;
using static RaftHead.Head.Tests.Execution.ExecutionFixture;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Tests.Cluster;

/// <summary>A speculative clone is replicated state: the leader that started it may stop, and the clone still races and wins once.</summary>
public sealed class SpeculationFailoverTests
{
    private static readonly Command Tool = new() { Arguments = { "/bin/tool" }, OutputPaths = { "out" } };

    [Fact]
    public async Task A_clone_started_before_the_leader_stops_is_neither_lost_nor_started_twice_and_its_result_wins()
    {
        var frontend = new FrontendOptions { RetryBackoffBaseMs = 1, RetryBackoffMaxMs = 1, Speculation = new SpeculationOptions { FloorMs = 300 } };
        await using var cluster = await ThreeHeads.StartAsync(frontend);
        var follower = await cluster.FollowerAsync();
        await using var first = await ClusterWorker.StartAsync(cluster, follower);

        // Three quick runs give the tool's class its history.
        for (var i = 0; i < 3; i++)
        {
            using var history = cluster.Clients(follower).Execution.Execute(new ExecuteRequest { ActionDigest = await PutActionAsync(cluster.Clients(follower), $"input {i}") });
            (await first.Runner.NextRunAsync()).Complete(0, "quick");
            await ReadUntilDoneAsync(history.ResponseStream);
        }

        using var call = cluster.Clients(follower).Execution.Execute(new ExecuteRequest { ActionDigest = await PutActionAsync(cluster.Clients(follower), "the straggler") });
        var original = await first.Runner.NextRunAsync();

        // A worker with a free slot appears: the straggler is cloned onto it.
        await using var second = await ClusterWorker.StartAsync(cluster, follower);
        var clone = await second.Runner.NextRunAsync();

        var leader = await cluster.LeaderAsync();
        await cluster.StopHeadAsync(leader);
        await cluster.LeaderAsync(except: leader);
        clone.Complete(0, "the clone's result");

        var done = await ReadUntilDoneAsync(call.ResponseStream);
        Assert.Equal("the clone's result", Response(done).Result.StdoutRaw.ToStringUtf8());
        await original.Cancelled.Task.WaitAsync(ThreeHeads.WaitLimit);
        Assert.Equal(4, first.Runner.Calls);
        Assert.Equal(1, second.Runner.Calls);
        Assert.False(second.Runner.HasPendingStart);
    }

    private static async Task<Digest> PutActionAsync(ReapiClients clients, string input)
    {
        var file = await ClusterWorker.PutAsync(clients, ByteString.CopyFromUtf8(input));
        var root = new ReapiDirectory { Files = { new FileNode { Name = "in.txt", Digest = file } } };
        var action = new ReapiAction { CommandDigest = await ClusterWorker.PutAsync(clients, Tool.ToByteString()), InputRootDigest = await ClusterWorker.PutAsync(clients, root.ToByteString()) };
        return await ClusterWorker.PutAsync(clients, action.ToByteString());
    }
}
