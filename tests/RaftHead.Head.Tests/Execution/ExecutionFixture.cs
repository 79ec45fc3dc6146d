using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RaftHead.Head.Execution;
using RaftHead.Head.Hosting;
using RaftHead.Head.Reapi;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Tests.Execution;

/// <summary>
/// A head with execution over the real gRPC layer on a loopback port: a real FASTER CAS and action cache (with the
/// completeness check), the scheduler and the Execution and Operations services, and a <see cref="FakeActionRunner"/>.
/// </summary>
internal sealed class ExecutionFixture : IAsyncDisposable
{
    private readonly string _data;

    private ExecutionFixture(string data, FasterBlobStore store, LocalScheduler scheduler, FakeActionRunner runner, GrpcServer server)
    {
        _data = data;
        Store = store;
        Scheduler = scheduler;
        Runner = runner;
        Server = server;
        Channel = GrpcChannels.Create(server.Address, new GrpcChannelSettings());
        Rpc = new ReapiClients(Channel);
    }

    public FasterBlobStore Store { get; }

    public LocalScheduler Scheduler { get; }

    public FakeActionRunner Runner { get; }

    public GrpcServer Server { get; }

    public GrpcChannel Channel { get; }

    public ReapiClients Rpc { get; }

    public static async Task<ExecutionFixture> StartAsync(ExecutionOptions? options = null, long casMaxBytes = 1L << 30, long segmentBytes = 1L << 20)
    {
        var data = Path.Combine(Path.GetTempPath(), "rh-exec-test-" + Guid.NewGuid().ToString("N"));
        var store = await FasterBlobStore.OpenAsync(
            new FasterBlobStoreOptions
            {
                DataDirectory = data,
                MaxBytes = casMaxBytes,
                SegmentBytes = segmentBytes,
                BufferedBlobMaxBytes = 4096,
                IndexBucketCount = 1L << 12,
                IndexMemorySizeBits = 22,
                IndexPageSizeBits = 16,
                CheckpointIntervalMs = 0,
            },
            CancellationToken.None);
        var actionCache = new CompletenessCheckingActionCache(new FasterActionCache(store), store);
        var runner = new FakeActionRunner();
        var scheduler = new LocalScheduler(store, actionCache, runner, options ?? new ExecutionOptions { Slots = 2 });
        var reapi = new ReapiOptions { ExecutionEnabled = true };
        var server = GrpcServer.Create(
            new GrpcServerOptions { Port = 0 },
            (services, _) =>
            {
                services.AddSingleton(new CapabilitiesService(reapi));
                services.AddSingleton(new CasService(store, reapi));
                services.AddSingleton(new ActionCacheService(actionCache, store, reapi));
                services.AddSingleton(new ExecutionService(scheduler));
                services.AddSingleton(new OperationsService(scheduler));
            },
            endpoints =>
            {
                endpoints.MapGrpcService<CapabilitiesService>();
                endpoints.MapGrpcService<CasService>();
                endpoints.MapGrpcService<ActionCacheService>();
                endpoints.MapGrpcService<ExecutionService>();
                endpoints.MapGrpcService<OperationsService>();
            },
            health => health.AddCheck("storage", () => HealthCheckResult.Healthy()));
        scheduler.Start();
        await server.StartAsync();
        return new ExecutionFixture(data, store, scheduler, runner, server);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();

        // The scheduler first: it ends open Execute streams, so the server's graceful stop does not wait on them.
        await Scheduler.DisposeAsync();
        await Server.DisposeAsync();
        await Store.DisposeAsync();
        System.IO.Directory.Delete(_data, recursive: true);
    }

    public async Task<Digest> PutAsync(IMessage message, string instanceName = "")
    {
        var bytes = message.ToByteArray();
        var digest = Digests.Compute(bytes);
        await Store.PutAsync(instanceName, digest, bytes, CancellationToken.None);
        return digest;
    }

    public async Task<Digest> PutAsync(string content, string instanceName = "")
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(content);
        var digest = Digests.Compute(bytes);
        await Store.PutAsync(instanceName, digest, bytes, CancellationToken.None);
        return digest;
    }

    /// <summary>Stores a Command, an input root with one file, and the Action; returns the Action's digest.</summary>
    public async Task<Digest> PutActionAsync(string name, bool doNotCache = false, Platform? platform = null, Duration? timeout = null)
    {
        var command = new Command { Arguments = { "/bin/echo", name }, OutputPaths = { "out" } };
        var file = await PutAsync("input of " + name);
        var root = new ReapiDirectory { Files = { new FileNode { Name = "in.txt", Digest = file } } };
        var action = new ReapiAction
        {
            CommandDigest = await PutAsync(command),
            InputRootDigest = await PutAsync(root),
            DoNotCache = doNotCache,
            Platform = platform,
            Timeout = timeout,
        };
        return await PutAsync(action);
    }

    public AsyncServerStreamingCall<Operation> Execute(Digest actionDigest, bool skipCacheLookup = false) =>
        Rpc.Execution.Execute(new ExecuteRequest { ActionDigest = actionDigest, SkipCacheLookup = skipCacheLookup });

    public static async Task<Operation> NextAsync(AsyncServerStreamingCall<Operation> call) =>
        await NextAsync(call.ResponseStream);

    public static async Task<Operation> NextAsync(IAsyncStreamReader<Operation> stream)
    {
        using var limit = new CancellationTokenSource(FakeActionRunner.WaitLimit);
        Assert.True(await stream.MoveNext(limit.Token), "the stream ended early");
        return stream.Current;
    }

    /// <summary>Reads until the done Operation, then checks the stream ends there.</summary>
    public static async Task<Operation> ReadUntilDoneAsync(IAsyncStreamReader<Operation> stream)
    {
        while (true)
        {
            var operation = await NextAsync(stream);
            if (operation.Done)
            {
                using var limit = new CancellationTokenSource(FakeActionRunner.WaitLimit);
                Assert.False(await stream.MoveNext(limit.Token), "the stream went on after the done Operation");
                return operation;
            }
        }
    }

    /// <summary>Reads until the operation reaches <paramref name="stage"/> (keep-alive repeats are skipped).</summary>
    public static async Task<Operation> ReadUntilStageAsync(IAsyncStreamReader<Operation> stream, ExecutionStage.Types.Value stage)
    {
        while (true)
        {
            var operation = await NextAsync(stream);
            if (Stage(operation) == stage)
            {
                return operation;
            }

            Assert.False(operation.Done, $"the operation finished before reaching {stage}");
        }
    }

    public static ExecutionStage.Types.Value Stage(Operation operation) => operation.Metadata.Unpack<ExecuteOperationMetadata>().Stage;

    public static ExecuteResponse Response(Operation operation)
    {
        Assert.True(operation.Done);
        Assert.Equal(Operation.ResultOneofCase.Response, operation.ResultCase);
        return operation.Response.Unpack<ExecuteResponse>();
    }

    public async Task<ActionResult?> GetActionResultAsync(Digest actionDigest)
    {
        try
        {
            return await Rpc.ActionCache.GetActionResultAsync(new GetActionResultRequest { ActionDigest = actionDigest }).ResponseAsync;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
    }
}
