using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using RaftHead.Head;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using RaftHead.Storage;
using RaftHead.Storage.Remote;
using RaftHead.Testing;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Worker.Tests.Speculation;

/// <summary>
/// A straggler overtaken end to end: a head, real workers, real processes. The slow worker is slow through where it
/// runs: the action sleeps when its sandbox lies under that worker's directory.
/// </summary>
public sealed class StragglerTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    // Sleeps only on the slow worker and only when asked to (the history runs are quick there too), recording the
    // shell's and the sleep's pids outside the sandbox first.
    private const string Script =
        "if [ -e slow-me ]; then case \"$PWD\" in */slow/*) echo $$ >> \"$RUN_LOG\"; sleep 120 & echo $! >> \"$RUN_LOG\"; wait;; esac; fi; cat n > out.txt";

    private readonly TempDirectory _root = new("rh-straggler-test-");
    private readonly GrpcChannels _channels = new(HeadConnection.ChannelSettings);
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly List<WorkerStorage> _stores = [];
    private HeadNode _head = null!;
    private RemoteBlobStore _cas = null!;
    private string _runLog = "";

    public async Task InitializeAsync()
    {
        File.SetUnixFileMode(_root.Path, (UnixFileMode)0x1ED); // the run-as user walks down to the sandboxes
        _runLog = _root.Combine("run.log");
        await File.WriteAllTextAsync(_runLog, "");
        File.SetUnixFileMode(_runLog, (UnixFileMode)0x1B6);
        var frontend = new FrontendOptions { Speculation = new SpeculationOptions { FloorMs = 500 } };
        _head = await HeadNode.StartAsync(
            new HeadNodeOptions { DataDirectory = _root.Combine("head"), Port = 0, CasMaxBytes = 1L << 30, ExecutionEnabled = true, Frontend = frontend },
            CancellationToken.None);
        _cas = new RemoteBlobStore(new HeadConnection([_head.Address.Authority], _channels));
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
    public async Task A_straggler_is_overtaken_by_a_clone_on_an_idle_worker_and_the_losing_run_is_killed()
    {
        await StartWorkerAsync("slow");
        for (var i = 1; i <= 3; i++)
        {
            var history = await ExecuteAsync(i.ToString(CultureInfo.InvariantCulture), slowMe: false);
            Assert.Equal("slow", history.Result.ExecutionMetadata.Worker);
        }

        var straggler = ExecuteAsync("4", slowMe: true);
        await TestServers.EventuallyAsync(() => File.ReadAllLines(_runLog).Length >= 2, Deadline, "the straggler's start on the slow worker");
        var pids = Array.ConvertAll(File.ReadAllLines(_runLog), p => int.Parse(p, CultureInfo.InvariantCulture));

        // Only now is there an idle slot for a clone.
        await StartWorkerAsync("fast");
        var response = await straggler.WaitAsync(Deadline);

        Assert.Equal(0, response.Result.ExitCode);
        Assert.Equal("fast", response.Result.ExecutionMetadata.Worker);
        var output = Assert.Single(response.Result.OutputFiles);
        Assert.Equal("4", System.Text.Encoding.UTF8.GetString((await _cas.ReadAllAsync("", output.Digest, CancellationToken.None))!));

        // The original's whole process group is gone: the shell and the sleep it started.
        foreach (var pid in pids)
        {
            await ProcessAssert.GoneAsync(pid);
        }
    }

    private async Task<ExecuteResponse> ExecuteAsync(string n, bool slowMe)
    {
        var root = new Build.Bazel.Remote.Execution.V2.Directory { Files = { new FileNode { Name = "n", Digest = await PutBytesAsync(n) } } };
        if (slowMe)
        {
            root.Files.Add(new FileNode { Name = "slow-me", Digest = await PutBytesAsync("") });
        }

        var command = RunnerFixture.Shell(Script, "out.txt");
        command.EnvironmentVariables.Add(new Command.Types.EnvironmentVariable { Name = "RUN_LOG", Value = _runLog });
        var action = new ReapiAction { CommandDigest = await PutAsync(command), InputRootDigest = await PutAsync(root) };
        var actionDigest = await PutAsync(action);
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

    private async Task<Digest> PutAsync(IMessage message) => await PutBytesAsync(message.ToByteArray());

    private async Task<Digest> PutBytesAsync(string text) => await PutBytesAsync(System.Text.Encoding.UTF8.GetBytes(text));

    private async Task<Digest> PutBytesAsync(byte[] bytes)
    {
        var digest = Digests.Compute(bytes);
        await _cas.PutAsync("", digest, bytes, CancellationToken.None);
        return digest;
    }

    /// <summary>One worker with one slot, its directory named <paramref name="name"/>.</summary>
    private async Task StartWorkerAsync(string name) =>
        _stores.Add(await ComposedWorker.StartAsync(_root.Combine(name), name, _head.Address.Authority, _channels, slots: 1, _owned));
}
