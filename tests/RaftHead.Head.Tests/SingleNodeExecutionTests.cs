using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Worker;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Tests;

/// <summary><c>rh serve --exec</c> as composed: the real runner behind Execute, and cache statistics that count each client lookup once.</summary>
public sealed class SingleNodeExecutionTests : IAsyncLifetime
{
    private RunningHead _node = null!;

    public async Task InitializeAsync() => _node = await RunningHead.StartAsync(casMaxBytes: 256L << 20, (store, work) => new ActionRunner(store, new RunnerOptions { WorkDirectory = work }));

    public async Task DisposeAsync() => await _node.DisposeAsync();

    [Fact]
    public async Task An_executed_action_is_cached_and_each_client_lookup_counts_once()
    {
        var caps = await _node.Rpc.Capabilities.GetCapabilitiesAsync(new GetCapabilitiesRequest()).ResponseAsync;
        Assert.True(caps.ExecutionCapabilities.ExecEnabled);

        var command = new Command { Arguments = { "/bin/sh", "-c", "echo built > out.txt" }, OutputPaths = { "out.txt" } };
        var root = new ReapiDirectory();
        var action = new ReapiAction { CommandDigest = await PutAsync(command), InputRootDigest = await PutAsync(root) };
        var actionDigest = await PutAsync(action);

        // What Bazel does: look up, miss, execute.
        var miss = await Assert.ThrowsAsync<RpcException>(() => _node.Rpc.ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = actionDigest }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, miss.StatusCode);
        using (var execute = _node.Rpc.Execution.Execute(new ExecuteRequest { ActionDigest = actionDigest }))
        {
            Operation? last = null;
            while (await execute.ResponseStream.MoveNext())
            {
                last = execute.ResponseStream.Current;
            }

            Assert.True(last!.Done);
            var response = last.Response.Unpack<ExecuteResponse>();
            Assert.Equal(0, response.Status?.Code ?? 0);
            Assert.Equal(0, response.Result.ExitCode);
            Assert.Equal("out.txt", Assert.Single(response.Result.OutputFiles).Path);
        }

        var hit = await _node.Rpc.ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = actionDigest, InlineOutputFiles = { "out.txt" } }).ResponseAsync;
        Assert.Equal("built\n", hit.OutputFiles[0].Contents.ToStringUtf8());

        // Two misses (GetActionResult, then Execute's own lookup) and the hit.
        var stats = _node.Head.CacheStats();
        Assert.Equal(2, stats.Total.Misses);
        Assert.Equal(1, stats.Total.Hits);
    }

    private async Task<Digest> PutAsync(IMessage message)
    {
        var bytes = message.ToByteString();
        var digest = Digests.Compute(bytes.Span);
        var response = await _node.Rpc.Cas.BatchUpdateBlobsAsync(new BatchUpdateBlobsRequest
        {
            Requests = { new BatchUpdateBlobsRequest.Types.Request { Digest = digest, Data = bytes } },
        }).ResponseAsync;
        Assert.Equal(0, response.Responses[0].Status.Code);
        return digest;
    }
}
