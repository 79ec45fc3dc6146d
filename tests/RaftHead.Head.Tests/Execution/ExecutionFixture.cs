using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using RaftHead.Head.Execution;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using RaftHead.Testing;
using RaftHead.Worker.Agent;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Tests.Execution;

/// <summary>
/// A head with execution as <c>rh serve --exec</c> composes it, over the real gRPC layer on a loopback port: a
/// <see cref="HeadNode"/> (FASTER CAS, the scheduler in a one-member Raft log, the frontend) and an in-process worker
/// agent speaking the worker protocol to it, running actions on a <see cref="FakeActionRunner"/> the test drives.
/// </summary>
internal sealed class ExecutionFixture : IAsyncDisposable
{
    private readonly TempDirectory _data;
    private InProcessWorker? _worker;

    private ExecutionFixture(TempDirectory data, HeadNode head, InProcessWorker worker, FakeActionRunner runner)
    {
        _data = data;
        Head = head;
        _worker = worker;
        Runner = runner;
        Channel = GrpcChannels.Create(head.Address, new GrpcChannelSettings());
        Rpc = new ReapiClients(Channel);
    }

    public HeadNode Head { get; }

    public IBlobStore Store => Head.Blobs;

    public FakeActionRunner Runner { get; }

    /// <summary>The in-process worker's agent; null once stopped.</summary>
    public WorkerAgent? Agent => _worker?.Agent;

    public GrpcChannel Channel { get; }

    public ReapiClients Rpc { get; }

    public SchedulerState State => Head.Log.Current;

    /// <param name="slots">The worker's slots.</param>
    /// <param name="limits">The scheduler's bounds (queue size, attempts).</param>
    /// <param name="frontend">Frontend timings (keep-alive, retry delay, backoff).</param>
    /// <param name="execution">Execute's input checks.</param>
    /// <param name="platform">What the worker offers; the machine's OSFamily and ISA by default.</param>
    /// <param name="leaseAhead">Leases the worker holds beyond its slots: none unless given, so work beyond the slots waits in the head's queue where a test can watch it.</param>
    public static async Task<ExecutionFixture> StartAsync(int slots = 2, SchedulerLimits? limits = null, FrontendOptions? frontend = null, ExecutionOptions? execution = null, IReadOnlyList<KeyValuePair<string, string>>? platform = null, long casMaxBytes = 1L << 30, long segmentBytes = 1L << 20, int leaseAhead = 0)
    {
        var data = new TempDirectory("rh-exec-test-");
        HeadNode? head = null;
        try
        {
            head = await HeadNode.StartAsync(
                new HeadNodeOptions
                {
                    DataDirectory = data.Combine("head"),
                    Port = 0,
                    CasMaxBytes = casMaxBytes,
                    Cas = SmallCas.Options("", segmentBytes: segmentBytes),
                    ExecutionEnabled = true,
                    Limits = limits ?? new SchedulerLimits(),
                    Frontend = frontend ?? new FrontendOptions { RetryBackoffBaseMs = 1, RetryBackoffMaxMs = 1 },
                    Execution = execution ?? new ExecutionOptions(),
                },
                CancellationToken.None);
            var runner = new FakeActionRunner();
            var worker = await InProcessWorker.StartAsync(
                [head.Address.Authority],
                head.Blobs,
                runner,
                new WorkerAgentOptions { DataDirectory = data.Combine("worker"), Slots = slots, LeaseAhead = leaseAhead, Platform = platform ?? MachinePlatform.Default(), StopGraceMs = 0 },
                CancellationToken.None);
            return new ExecutionFixture(data, head, worker, runner);
        }
        catch
        {
            if (head is not null)
            {
                await head.DisposeAsync();
            }

            data.Dispose();
            throw;
        }
    }

    /// <summary>Stops the worker (its running actions are killed) and then the head, as a shutdown of the process does.</summary>
    public async Task StopAsync()
    {
        if (_worker is { } worker)
        {
            _worker = null;
            await worker.DisposeAsync();
        }

        await Head.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        if (_worker is not null)
        {
            await StopAsync();
        }

        _data.Dispose();
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
