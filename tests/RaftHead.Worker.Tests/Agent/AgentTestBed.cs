using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Head;
using RaftHead.Head.Hosting;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.Runner;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Storage.Remote;
using RaftHead.Testing;
using RaftHead.Worker.Agent;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Worker.Tests.Agent;

/// <summary>
/// A worker agent with a real runner, its outputs going to a real head's CAS (a single node in cache mode), and its
/// worker protocol answered by <see cref="FakeWorkerProtocol"/>.
/// </summary>
internal sealed class AgentTestBed : IAsyncDisposable
{
    private static int _operations;

    private readonly TempDirectory _root;
    private readonly IAsyncDisposable? _ownedRunner;

    private AgentTestBed(TempDirectory root, HeadNode head, GrpcServer server, FakeWorkerProtocol fake, GrpcChannels channels, IBlobStore store, IActionRunner runner, HeadConnection workerHeads, WorkerAgent agent)
    {
        _root = root;
        Head = head;
        Server = server;
        Fake = fake;
        Channels = channels;
        Store = store;
        _ownedRunner = runner as IAsyncDisposable;
        WorkerHeads = workerHeads;
        Agent = agent;
    }

    public HeadNode Head { get; }

    public GrpcServer Server { get; }

    public FakeWorkerProtocol Fake { get; }

    public GrpcChannels Channels { get; }

    public IBlobStore Store { get; }

    public HeadConnection WorkerHeads { get; }

    public WorkerAgent Agent { get; }

    public string DataDirectory => _root.Combine("worker");

    /// <param name="before">Worker protocol endpoints tried before the fake one (dead ones, a follower).</param>
    /// <param name="runnerFactory">Replaces the real runner.</param>
    /// <param name="slots">Actions run at once.</param>
    /// <param name="stopGraceMs">How long a stop waits for running work.</param>
    /// <param name="leaseAhead">Leases held beyond the slots; null: the agent's default (one per slot).</param>
    public static async Task<AgentTestBed> StartAsync(string[]? before = null, Func<IBlobStore, IActionRunner>? runnerFactory = null, int slots = 2, int stopGraceMs = 5_000, int? leaseAhead = null)
    {
        var root = new TempDirectory("rh-agent-test-");
        File.SetUnixFileMode(root.Path, (UnixFileMode)0x1ED); // the run-as user walks down to the sandboxes
        var head = await HeadNode.StartAsync(new HeadNodeOptions { DataDirectory = root.Combine("head"), Port = 0, CasMaxBytes = 1L << 30 }, CancellationToken.None);
        var fake = new FakeWorkerProtocol();
        var server = await TestServers.StartAsync(fake);
        var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        var store = WorkerStorage.Compose(new HeadConnection(new[] { head.Address.Authority }, channels), channels, cache: null, "agent-test", peers: false).Store;
        var runner = runnerFactory?.Invoke(store)
            ?? new ActionRunner(store, new RunnerOptions { WorkDirectory = root.Combine("worker", "work"), WorkerId = "agent-test", WarmSandboxes = slots });
        var workerHeads = new HeadConnection([.. before ?? Array.Empty<string>(), TestServers.Endpoint(server)], channels, new HeadConnectionOptions { UnavailableBudgetMs = 10_000 });
        var agent = new WorkerAgent(
            new WorkerAgentOptions { DataDirectory = root.Combine("worker"), Slots = slots, LeaseAhead = leaseAhead, LeaseWaitMs = 2_000, StopGraceMs = stopGraceMs },
            workerHeads,
            runner,
            store);
        var bed = new AgentTestBed(root, head, server, fake, channels, store, runner, workerHeads, agent);
        await agent.StartAsync(CancellationToken.None);
        return bed;
    }

    /// <summary>Stores the action on the head and queues a lease for it.</summary>
    public async Task<WorkLease> EnqueueAsync(Command command)
    {
        var commandDigest = await PutAsync(command.ToByteArray());
        var action = new ReapiAction { CommandDigest = commandDigest, InputRootDigest = Digests.ComputeOf(new Build.Bazel.Remote.Execution.V2.Directory()) };
        await PutAsync(new Build.Bazel.Remote.Execution.V2.Directory().ToByteArray());
        var actionDigest = await PutAsync(action.ToByteArray());
        var lease = new WorkLease { OperationName = $"operations/test-{Interlocked.Increment(ref _operations)}", Attempt = 1, InstanceName = "", ActionDigest = actionDigest };
        Fake.Pending.Writer.TryWrite(lease);
        return lease;
    }

    /// <summary>
    /// Queues a lease carrying its Action and Command inline, as a head does; only the input root is stored, so the run
    /// can only have taken them from the lease. <paramref name="sentCommand"/> (default: the command) is what the lease
    /// carries as the Command bytes, to send one that does not match the digest.
    /// </summary>
    public async Task<WorkLease> EnqueueInlineAsync(Command command, Command? sentCommand = null, bool storeCommand = false)
    {
        var commandBytes = command.ToByteArray();
        var commandDigest = storeCommand ? await PutAsync(commandBytes) : Digests.Compute(commandBytes);
        var action = new ReapiAction { CommandDigest = commandDigest, InputRootDigest = await PutAsync(new Build.Bazel.Remote.Execution.V2.Directory().ToByteArray()) };
        var actionBytes = action.ToByteArray();
        var lease = new WorkLease
        {
            OperationName = $"operations/test-{Interlocked.Increment(ref _operations)}",
            Attempt = 1,
            InstanceName = "",
            ActionDigest = Digests.Compute(actionBytes),
            Action = Google.Protobuf.ByteString.CopyFrom(actionBytes),
            Command = (sentCommand ?? command).ToByteString(),
        };
        Fake.Pending.Writer.TryWrite(lease);
        return lease;
    }

    /// <summary>A blob as the head holds it, read over REAPI without the worker's store.</summary>
    public async Task<byte[]?> ReadFromHeadAsync(Digest digest)
    {
        var cas = new ReapiClients(Channels.For(Head.Address.Authority)).Cas;
        var response = await cas.BatchReadBlobsAsync(new BatchReadBlobsRequest { Digests = { digest } });
        var item = Assert.Single(response.Responses);
        return item.Status.Code == 0 ? item.Data.ToByteArray() : null;
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.DisposeAsync();
        if (_ownedRunner is not null)
        {
            await _ownedRunner.DisposeAsync();
        }

        Channels.Dispose();
        await Server.DisposeAsync();
        await Head.DisposeAsync();
        _root.Dispose();
    }

    private async Task<Digest> PutAsync(byte[] bytes)
    {
        var digest = Digests.Compute(bytes);
        await Store.PutAsync("", digest, bytes, CancellationToken.None);
        return digest;
    }
}
