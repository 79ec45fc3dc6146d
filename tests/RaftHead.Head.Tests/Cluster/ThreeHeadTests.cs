using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using static RaftHead.Head.Tests.Execution.ExecutionFixture;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;
using Stage = Build.Bazel.Remote.Execution.V2.ExecutionStage.Types.Value;

namespace RaftHead.Head.Tests.Cluster;

/// <summary>
/// Three replicated heads in one process: any head is a full REAPI endpoint (a follower forwards writes to the leader
/// and answers reads from its own applied state), and stopping the leader in the middle of a run loses nothing.
/// </summary>
public sealed class ThreeHeadTests
{
    [Fact]
    public async Task Execute_on_a_follower_runs_once_and_every_head_knows_the_operation_and_the_cached_result()
    {
        await using var cluster = await ThreeHeads.StartAsync();
        var follower = await cluster.FollowerAsync();
        await using var worker = await ClusterWorker.StartAsync(cluster, follower);
        var action = await PutActionAsync(cluster.Clients(follower), "on a follower");

        using var call = cluster.Clients(follower).Execution.Execute(new ExecuteRequest { ActionDigest = action });
        var run = await worker.Runner.NextRunAsync();
        run.Complete(0, "ran once");
        var done = await ReadUntilDoneAsync(call.ResponseStream);
        Assert.Equal("ran once", Response(done).Result.StdoutRaw.ToStringUtf8());

        for (long id = 1; id <= 3; id++)
        {
            var clients = cluster.Clients(id);
            var operation = await clients.Operations.GetOperationAsync(new GetOperationRequest { Name = done.Name }).ResponseAsync;
            Assert.True(operation.Done, $"head {id} does not know the operation is done");
            var cached = await clients.ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = action }).ResponseAsync;
            Assert.Equal("ran once", cached.StdoutRaw.ToStringUtf8());
        }

        // A second Execute through the third head is a cache hit: the cache is the replicated state, not one head's.
        var third = OtherThan(await cluster.LeaderAsync(), follower);
        using var again = cluster.Clients(third).Execution.Execute(new ExecuteRequest { ActionDigest = action });
        Assert.True(Response(await ReadUntilDoneAsync(again.ResponseStream)).CachedResult);
        Assert.Equal(1, worker.Runner.Calls);
    }

    [Fact]
    public async Task Stopping_the_leader_mid_run_loses_nothing_the_result_reaches_the_new_leader_and_the_survivors_stream_ends_done()
    {
        await using var cluster = await ThreeHeads.StartAsync();
        var leader = await cluster.LeaderAsync();
        var follower = await cluster.FollowerAsync();
        await using var worker = await ClusterWorker.StartAsync(cluster, follower);
        var action = await PutActionAsync(cluster.Clients(follower), "across a failover");
        using var call = cluster.Clients(follower).Execution.Execute(new ExecuteRequest { ActionDigest = action });
        var run = await worker.Runner.NextRunAsync();
        var executing = await ReadUntilStageAsync(call.ResponseStream, Stage.Executing);

        await cluster.StopHeadAsync(leader);
        var successor = await cluster.LeaderAsync(except: leader);
        Assert.NotEqual(leader, successor);

        // The worker finishes after the leader is gone: its Complete must find the new leader.
        run.Complete(0, "survived");
        var done = await ReadUntilDoneAsync(call.ResponseStream);
        Assert.Equal(executing.Name, done.Name);
        Assert.Equal("survived", Response(done).Result.StdoutRaw.ToStringUtf8());
        Assert.Equal(1, worker.Runner.Calls);

        // And new work is taken through either survivor.
        var next = await PutActionAsync(cluster.Clients(successor), "after the failover");
        using var nextCall = cluster.Clients(OtherThan(leader, successor)).Execution.Execute(new ExecuteRequest { ActionDigest = next });
        (await worker.Runner.NextRunAsync()).Complete(0);
        Assert.Equal(0, Response(await ReadUntilDoneAsync(nextCall.ResponseStream)).Status.Code);

        // The old leader comes back as a follower and catches up on what happened without it.
        await cluster.StartHeadAsync(leader);
        var caughtUp = await WaitForAsync(() => cluster.Head(leader).Log.Current.FindOperation(done.Name) is { } op && SchedulerStateIsDone(op));
        Assert.True(caughtUp);
    }

    [Fact]
    public async Task An_action_result_written_through_one_follower_is_read_through_the_other_head()
    {
        await using var cluster = await ThreeHeads.StartAsync();
        var leader = await cluster.LeaderAsync();
        var follower = await cluster.FollowerAsync();
        var other = OtherThan(leader, follower);
        var action = Digests.ComputeOf(new ReapiAction { DoNotCache = false, CommandDigest = Digests.Compute("cmd"u8) });
        var result = new ActionResult { ExitCode = 0, StdoutRaw = ByteString.CopyFromUtf8("written elsewhere") };
        await cluster.Clients(follower).ActionCache.UpdateActionResultAsync(new UpdateActionResultRequest { ActionDigest = action, ActionResult = result }).ResponseAsync;

        var read = await cluster.Clients(other).ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = action }).ResponseAsync;
        Assert.Equal("written elsewhere", read.StdoutRaw.ToStringUtf8());

        var absent = Digests.ComputeOf(new ReapiAction { DoNotCache = true });
        var miss = await Assert.ThrowsAsync<RpcException>(() => cluster.Clients(other).ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = absent }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, miss.StatusCode);
    }

    private static bool SchedulerStateIsDone(RaftHead.Protocol.V1.OperationState operation) =>
        RaftHead.Head.Scheduling.SchedulerState.IsFinished(operation.Phase);

    private static long OtherThan(long a, long b)
    {
        for (long id = 1; id <= 3; id++)
        {
            if (id != a && id != b)
            {
                return id;
            }
        }

        throw new InvalidOperationException("no third head");
    }

    private static async Task<bool> WaitForAsync(Func<bool> condition)
    {
        using var limit = new CancellationTokenSource(ThreeHeads.WaitLimit);
        while (!condition())
        {
            await Task.Delay(10, limit.Token);
        }

        return true;
    }

    private static async Task<Digest> PutActionAsync(ReapiClients clients, string name)
    {
        var command = new Command { Arguments = { "/bin/echo", name }, OutputPaths = { "out" } };
        var file = await ClusterWorker.PutAsync(clients, ByteString.CopyFromUtf8("input of " + name));
        var root = new ReapiDirectory { Files = { new FileNode { Name = "in.txt", Digest = file } } };
        var action = new ReapiAction
        {
            CommandDigest = await ClusterWorker.PutAsync(clients, command.ToByteString()),
            InputRootDigest = await ClusterWorker.PutAsync(clients, root.ToByteString()),
        };
        return await ClusterWorker.PutAsync(clients, action.ToByteString());
    }
}
