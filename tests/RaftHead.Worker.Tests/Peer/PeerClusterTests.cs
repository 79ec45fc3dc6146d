using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using RaftHead.Head;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Storage.Remote;
using RaftHead.Testing;
using RaftHead.Worker.Agent;
using RaftHead.Worker.Peer;
using RaftHead.Worker.Sandbox;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Worker.Tests.Peer;

/// <summary>A head executing through two real workers, each with its peer service and peer-fetching store, as <c>rh worker</c> composes them.</summary>
public sealed class PeerClusterTests : IAsyncLifetime
{
    private const int OutputBytes = 300_000;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly TempDirectory _root = new("rh-peer-cluster-test-");
    private readonly GrpcChannels _channels = new(HeadConnection.ChannelSettings);
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<WorkerStorage> _stores = [];
    private HeadNode _head = null!;

    public async Task InitializeAsync()
    {
        File.SetUnixFileMode(_root.Path, (UnixFileMode)0x1ED); // the run-as user walks down to the sandboxes
        _head = await HeadNode.StartAsync(new HeadNodeOptions { DataDirectory = _root.Combine("head"), Port = 0, CasMaxBytes = 1L << 30, ExecutionEnabled = true }, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        foreach (var store in _stores)
        {
            store.Dispose();
        }

        _channels.Dispose();
        await _head.DisposeAsync();
        _root.Dispose();
    }

    [Fact]
    public async Task An_input_another_worker_produced_is_fetched_from_that_worker_not_the_head()
    {
        var x = await StartWorkerAsync("x");
        var y = await StartWorkerAsync("y");

        var produced = await ExecuteAsync("x", Command("head -c " + OutputBytes + " /dev/urandom > out.bin", "out.bin"), new Build.Bazel.Remote.Execution.V2.Directory());
        var output = Assert.Single(produced.Result.OutputFiles).Digest;
        Assert.Equal(OutputBytes, output.SizeBytes);

        // The producer reports the output in a heartbeat; the directory answers from those reports only.
        var whereIs = new WorkerProtocol.WorkerProtocolClient(_channels.For(_head.Address.Authority));
        await TestServers.EventuallyAsync(
            () => whereIs.WhereIs(new WhereIsRequest { Digest = output, ExcludeWorkerId = y.Agent.WorkerId }).PeerEndpoints.Contains(x.Server.Endpoint),
            Deadline,
            "the head's directory naming worker x for the output");

        var input = new Build.Bazel.Remote.Execution.V2.Directory { Files = { new FileNode { Name = "in.bin", Digest = output } } };
        var consumed = await ExecuteAsync("y", Command("wc -c < in.bin"), input);

        Assert.Equal(0, consumed.Result.ExitCode);
        Assert.Equal("x", produced.Result.ExecutionMetadata.Worker);
        Assert.Equal("y", consumed.Result.ExecutionMetadata.Worker);
        Assert.Equal(OutputBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), (await ReadAsync(consumed.Result.StdoutDigest)).Trim());
        Assert.Equal(1, y.Store.BlobsFromPeers);
        Assert.Equal(OutputBytes, y.Store.BytesFromPeers);
        Assert.Equal(OutputBytes, x.Server.Reads.BytesServed);
        Assert.Equal(0, y.Store.DigestFailures);
    }

    [Fact]
    public async Task A_worker_serving_a_corrupt_blob_is_quarantined_and_the_reader_still_runs_on_the_right_bytes()
    {
        var x = await StartWorkerAsync("x");
        var y = await StartWorkerAsync("y");
        var produced = await ExecuteAsync("x", Command("head -c " + OutputBytes + " /dev/urandom > out.bin", "out.bin"), new Build.Bazel.Remote.Execution.V2.Directory());
        var output = Assert.Single(produced.Result.OutputFiles).Digest;
        var whereIs = new WorkerProtocol.WorkerProtocolClient(_channels.For(_head.Address.Authority));
        await TestServers.EventuallyAsync(
            () => whereIs.WhereIs(new WhereIsRequest { Digest = output, ExcludeWorkerId = y.Agent.WorkerId }).PeerEndpoints.Contains(x.Server.Endpoint),
            Deadline,
            "the head's directory naming worker x for the output");

        // What a failing disk does: the blob x keeps for its peers changes under it.
        var servedHash = CorruptOnDisk(x.Cache, output);

        var input = new Build.Bazel.Remote.Execution.V2.Directory { Files = { new FileNode { Name = "in.bin", Digest = output } } };
        var consumed = await ExecuteAsync("y", Command("sha256sum < in.bin"), input);

        // y asked x, caught the bad bytes, and ran on the head's copy.
        Assert.Equal(0, consumed.Result.ExitCode);
        Assert.StartsWith(output.Hash + " ", await ReadAsync(consumed.Result.StdoutDigest), StringComparison.Ordinal);
        Assert.Equal(1, x.Server.Reads.ReadsAsked);
        Assert.Equal(1, y.Store.DigestFailures);
        Assert.Equal(0, y.Store.BlobsFromPeers);

        // y's next heartbeat tells the leader, which quarantines x, naming the blob, the reporter and the bytes.
        await TestServers.EventuallyAsync(
            () => _head.Log.Current.FindWorker(x.Agent.WorkerId) is { QuarantineReason.Length: > 0 },
            Deadline,
            "worker x quarantined");
        var reason = _head.Log.Current.FindWorker(x.Agent.WorkerId)!.QuarantineReason;
        Assert.Contains($"{output.Hash}/{output.SizeBytes}", reason, StringComparison.Ordinal);
        Assert.Contains("worker " + y.Agent.WorkerId, reason, StringComparison.Ordinal);
        Assert.Contains(servedHash, reason, StringComparison.Ordinal);
        Assert.Equal("", _head.Log.Current.FindWorker(y.Agent.WorkerId)!.QuarantineReason);
        Assert.Equal(0, y.Store.CorruptReports.PendingCount);

        // Work only x could run waits: it is not leased to x, even while later work placed after it runs on y.
        using var waiting = new CancellationTokenSource(Deadline);
        var onX = await SubmitAsync("x", Command("true"), waiting.Token);
        await ExecuteAsync("y", Command("true"), new Build.Bazel.Remote.Execution.V2.Directory());
        Assert.Equal(OperationPhase.Queued, _head.Log.Current.FindOperation(onX.Name)!.Phase);
        await waiting.CancelAsync();
    }

    /// <summary>Flips one byte of the blob's file in the worker's cache, under its own digest; returns what the file now hashes to.</summary>
    private static string CorruptOnDisk(FileCache cache, Digest digest)
    {
        var path = cache.PathFor(digest, false);
        if (!File.Exists(path))
        {
            path = cache.PathFor(digest, true);
        }

        var mode = File.GetUnixFileMode(path);
        File.SetUnixFileMode(path, mode | UnixFileMode.UserWrite);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        File.SetUnixFileMode(path, mode);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
    }

    /// <summary>Submits an action and returns once the head has taken it (the first answer), leaving the call open until <paramref name="cancellationToken"/>.</summary>
    private async Task<Operation> SubmitAsync(string pool, Command command, CancellationToken cancellationToken)
    {
        var store = new RemoteBlobStore(new HeadConnection([_head.Address.Authority], _channels));
        var action = new ReapiAction
        {
            CommandDigest = await PutAsync(store, command),
            InputRootDigest = await PutAsync(store, new Build.Bazel.Remote.Execution.V2.Directory()),
            Platform = new Platform { Properties = { new Platform.Types.Property { Name = "pool", Value = pool } } },
            DoNotCache = true,
        };
        var actionDigest = await PutAsync(store, action);
        var clients = new ReapiClients(_channels.For(_head.Address.Authority));
        var call = clients.Execution.Execute(new ExecuteRequest { ActionDigest = actionDigest }, cancellationToken: cancellationToken);
        _owned.Add(new CallOwner(call));
        Assert.True(await call.ResponseStream.MoveNext(cancellationToken), "the head answered the submission");
        return call.ResponseStream.Current;
    }

    private static Command Command(string script, params string[] outputs)
    {
        var command = new Command { Arguments = { "/bin/sh", "-c", script }, EnvironmentVariables = { new Command.Types.EnvironmentVariable { Name = "PATH", Value = "/usr/bin:/bin" } } };
        command.OutputPaths.AddRange(outputs);
        return command;
    }

    private async Task<ExecuteResponse> ExecuteAsync(string pool, Command command, Build.Bazel.Remote.Execution.V2.Directory inputRoot)
    {
        var store = new RemoteBlobStore(new HeadConnection([_head.Address.Authority], _channels));
        var action = new ReapiAction
        {
            CommandDigest = await PutAsync(store, command),
            InputRootDigest = await PutAsync(store, inputRoot),
            Platform = new Platform { Properties = { new Platform.Types.Property { Name = "pool", Value = pool } } },
            DoNotCache = true,
        };
        var actionDigest = await PutAsync(store, action);
        using var timeout = new CancellationTokenSource(Deadline);
        var clients = new ReapiClients(_channels.For(_head.Address.Authority));
        using var call = clients.Execution.Execute(new ExecuteRequest { ActionDigest = actionDigest }, cancellationToken: timeout.Token);
        Operation? last = null;
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            last = call.ResponseStream.Current;
        }

        Assert.True(last is { Done: true }, "the operation finished");
        var response = last!.Response.Unpack<ExecuteResponse>();
        Assert.True(response.Status is null or { Code: 0 }, response.Status?.Message);
        return response;
    }

    private static async Task<Digest> PutAsync(RemoteBlobStore store, IMessage message)
    {
        var bytes = message.ToByteArray();
        var digest = Digests.Compute(bytes);
        await store.PutAsync("", digest, bytes, CancellationToken.None);
        return digest;
    }

    private async Task<string> ReadAsync(Digest digest)
    {
        var store = new RemoteBlobStore(new HeadConnection([_head.Address.Authority], _channels));
        var bytes = await store.ReadAllAsync("", digest, CancellationToken.None);
        return System.Text.Encoding.UTF8.GetString(bytes!);
    }

    /// <summary>One worker offering <c>pool=<paramref name="pool"/></c>, composed as <c>rh worker</c> does.</summary>
    private async Task<PeerWorker> StartWorkerAsync(string pool)
    {
        var data = _root.Combine(pool);
        var workerId = WorkerIdentity.LoadOrCreate(data);
        var work = Path.Combine(data, "work");
        var cache = new FileCache(Path.Combine(work, "cache"));
        var heads = new HeadConnection([_head.Address.Authority], _channels);
        var storage = WorkerStorage.Compose(heads, _channels, cache, workerId, peers: true);
        _stores.Add(storage);
        var store = storage.Store;
        var runner = new ActionRunner(store, new RunnerOptions { WorkDirectory = work, WorkerId = pool, WarmSandboxes = 1 }, cache: cache);
        _owned.Add(runner);
        var server = await PeerBlobServer.StartAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), cache, null, CancellationToken.None);
        _owned.Add(server);
        var agent = new WorkerAgent(
            new WorkerAgentOptions
            {
                DataDirectory = data,
                Slots = 1,
                LeaseAhead = 0,
                LeaseWaitMs = 2_000,
                StopGraceMs = 0,
                PeerEndpoint = server.Endpoint,
                Platform = [.. MachinePlatform.Default(), KeyValuePair.Create("pool", pool)],
            },
            heads,
            runner,
            store,
            blobs: new BlobReports(cache),
            corrupt: storage.Peers!.CorruptReports);
        _owned.Add(agent);
        await agent.StartAsync(CancellationToken.None);
        return new PeerWorker(agent, storage.Peers!, server, cache);
    }

    private sealed record PeerWorker(WorkerAgent Agent, PeerFetchingBlobStore Store, PeerBlobServer Server, FileCache Cache);

    /// <summary>Ends an Execute call left open by a test.</summary>
    private sealed class CallOwner(Grpc.Core.AsyncServerStreamingCall<Operation> call) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            call.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
