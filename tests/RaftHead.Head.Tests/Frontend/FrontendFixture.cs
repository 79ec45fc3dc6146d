using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;
using RaftHead.Head.Frontend;
using RaftHead.Head.Graphs;
using RaftHead.Head.Hosting;
using RaftHead.Head.Reapi;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Testing;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Tests.Frontend;

/// <summary>
/// One head as the replicated form runs it, in process: a one-member Raft log in memory applying the scheduler state
/// machine, the frontend over it with a manual clock, and the CAS, Execution, Operations and worker-protocol services on
/// a loopback port. The log keeps real time (it must elect itself); everything the frontend decides by time (heartbeat
/// silence, backoff, retention) follows <see cref="Clock"/>, which only the test moves.
/// </summary>
internal sealed class FrontendFixture : IAsyncDisposable
{
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(20);

    private readonly TempDirectory _data;

    private FrontendFixture(TempDirectory data, FasterBlobStore store, RaftDriver driver, SchedulerFrontend frontend, GrpcServer server, FakeTimeProvider clock)
    {
        _data = data;
        Store = store;
        Driver = driver;
        Frontend = frontend;
        Server = server;
        Clock = clock;
        Channel = GrpcChannels.Create(server.Address, new GrpcChannelSettings());
        Rpc = new ReapiClients(Channel);
        Workers = new WorkerProtocol.WorkerProtocolClient(Channel);
    }

    public FasterBlobStore Store { get; }

    public RaftDriver Driver { get; }

    public SchedulerFrontend Frontend { get; }

    public GrpcServer Server { get; }

    public FakeTimeProvider Clock { get; }

    public GrpcChannel Channel { get; }

    public ReapiClients Rpc { get; }

    public WorkerProtocol.WorkerProtocolClient Workers { get; }

    public SchedulerState State => Frontend.Log.Current;

    /// <param name="limits">The scheduler's bounds.</param>
    /// <param name="options">The frontend's settings.</param>
    /// <param name="frontendBlobs">What the frontend sees of the CAS (a decorator over it), when not the CAS itself.</param>
    public static async Task<FrontendFixture> StartAsync(SchedulerLimits? limits = null, FrontendOptions? options = null, Func<IBlobStore, IBlobStore>? frontendBlobs = null)
    {
        var data = new TempDirectory("rh-frontend-test-");
        var store = await FasterBlobStore.OpenAsync(
            SmallCas.Options(data.Path),
            CancellationToken.None);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var machine = new ObservedStateMachine(new SchedulerStateMachine(limits), new ChangeFeed());
        var driver = new RaftDriver(
            new RaftDriverOptions { Raft = new RaftConfig { NodeId = 1, ElectionTicks = 3 }, TickMs = 10, RandomSeed = 11 },
            new MemoryRaftStorage(new ClusterMembership([1])),
            machine,
            new NoPeers());
        driver.Start();
        var frontendOptions = options ?? new FrontendOptions { OperationNameSeed = "t", StreamKeepAliveMs = 0 };
        var log = new RaftSchedulerLog(driver, machine, TimeSpan.FromMilliseconds(frontendOptions.RetryDelayMs));
        var frontend = new SchedulerFrontend(log, frontendBlobs?.Invoke(store) ?? store, frontendOptions, timeProvider: clock, random: new Random(5));
        var reapi = new ReapiOptions { ExecutionEnabled = true };
        var server = GrpcServer.Create(
            new GrpcServerOptions { Port = 0 },
            (services, _) =>
            {
                services.AddSingleton(new CasService(store, reapi));
                services.AddSingleton(new FrontendExecutionService(frontend));
                services.AddSingleton(new FrontendOperationsService(frontend));
                services.AddSingleton(new WorkerProtocolService(frontend));
                services.AddSingleton(new GraphService(frontend, limits));
            },
            endpoints =>
            {
                endpoints.MapGrpcService<CasService>();
                endpoints.MapGrpcService<FrontendExecutionService>();
                endpoints.MapGrpcService<FrontendOperationsService>();
                endpoints.MapGrpcService<WorkerProtocolService>();
                endpoints.MapGrpcService<GraphService>();
            },
            health => health.AddCheck("leader", () => driver.Status.Leader != 0 ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("no leader")));
        await server.StartAsync();
        var fixture = new FrontendFixture(data, store, driver, frontend, server, clock);
        await UntilAsync(() => driver.Status.IsLeader, "the one-member log to elect itself");
        frontend.Start();
        return fixture;
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Frontend.DisposeAsync();
        await Server.DisposeAsync();
        await Driver.DisposeAsync();
        await Store.DisposeAsync();
        _data.Dispose();
    }

    /// <summary>Waits (in real time, bounded) until the condition holds.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > WaitLimit)
            {
                throw new TimeoutException($"Timed out after {WaitLimit.TotalSeconds:0} s waiting for {what}.");
            }

            await Task.Delay(5);
        }
    }

    public async Task<Digest> PutAsync(IMessage message) => await PutAsync(message.ToByteArray());

    public async Task<Digest> PutAsync(byte[] bytes)
    {
        var digest = Digests.Compute(bytes);
        await Store.PutAsync("", digest, bytes, CancellationToken.None);
        return digest;
    }

    /// <summary>Stores a Command, an input root with one file (unless <paramref name="storeInput"/> is false) and the Action.</summary>
    public async Task<(Digest Action, Digest Input)> PutActionAsync(string name, bool doNotCache = false, bool storeInput = true)
    {
        var command = new Command { Arguments = { "/bin/echo", name }, OutputPaths = { "out" } };
        var content = System.Text.Encoding.UTF8.GetBytes("input of " + name);
        var file = storeInput ? await PutAsync(content) : Digests.Compute(content);
        var root = new ReapiDirectory { Files = { new FileNode { Name = "in.txt", Digest = file } } };
        var action = new ReapiAction { CommandDigest = await PutAsync(command), InputRootDigest = await PutAsync(root), DoNotCache = doNotCache };
        return (await PutAsync(action), file);
    }

    public AsyncServerStreamingCall<Operation> Execute(Digest action, bool skipCacheLookup = false) =>
        Rpc.Execution.Execute(new ExecuteRequest { ActionDigest = action, SkipCacheLookup = skipCacheLookup }, deadline: DateTime.UtcNow + WaitLimit);

    public async Task<string> RegisterAsync(string workerId, uint slots = 1, string incarnation = "1")
    {
        await Workers.RegisterAsync(new WorkerRegisterRequest { WorkerId = workerId, Slots = slots, Incarnation = incarnation, PeerEndpoint = workerId + ":1" });
        return workerId;
    }

    /// <summary>A long poll that must find work: the head's clock does not move, so it ends only with a lease (or the test's deadline).</summary>
    public async Task<WorkLease> LeaseAsync(string workerId)
    {
        var response = await Workers.LeaseAsync(
            new WorkerLeaseRequest { WorkerId = workerId, FreeSlots = 1, WaitMs = 60_000 },
            deadline: DateTime.UtcNow + WaitLimit);
        Assert.Single(response.Leases);
        return response.Leases[0];
    }

    public async Task<WorkerHeartbeatResponse> HeartbeatAsync(string workerId, string incarnation = "1", params WorkLease[] running)
    {
        var request = new WorkerHeartbeatRequest { WorkerId = workerId, Incarnation = incarnation };
        foreach (var lease in running)
        {
            request.Running.Add(new LeaseRef { OperationName = lease.OperationName, Attempt = lease.Attempt, AssignedIndex = lease.AssignedIndex });
        }

        return await Workers.HeartbeatAsync(request);
    }

    /// <summary>Moves the head's clock; the duties loop wakes on it.</summary>
    public void Advance(TimeSpan by) => Clock.Advance(by);

    public static async Task<Operation> NextAsync(IAsyncStreamReader<Operation> stream)
    {
        using var limit = new CancellationTokenSource(WaitLimit);
        Assert.True(await stream.MoveNext(limit.Token), "the stream ended early");
        return stream.Current;
    }

    public static async Task<Operation> ReadUntilDoneAsync(IAsyncStreamReader<Operation> stream)
    {
        while (true)
        {
            var operation = await NextAsync(stream);
            if (operation.Done)
            {
                using var limit = new CancellationTokenSource(WaitLimit);
                Assert.False(await stream.MoveNext(limit.Token), "the stream went on after the done Operation");
                return operation;
            }
        }
    }

    public static ExecutionStage.Types.Value Stage(Operation operation) => operation.Metadata.Unpack<ExecuteOperationMetadata>().Stage;

    public static ExecuteResponse Response(Operation operation)
    {
        Assert.True(operation.Done);
        return operation.Response.Unpack<ExecuteResponse>();
    }

    private sealed class NoPeers : IRaftTransport
    {
        public bool Send(Message message) => false;

        public string? AddressOf(long nodeId) => null;
    }
}
