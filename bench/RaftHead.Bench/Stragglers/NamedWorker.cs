using RaftHead.Bench.Execution;
using RaftHead.Protocol.Client;
using RaftHead.Storage.Remote;
using RaftHead.Worker;
using RaftHead.Worker.Agent;
using RaftHead.Worker.Sandbox;

namespace RaftHead.Bench.Stragglers;

/// <summary>
/// A worker with one slot composed as <c>rh worker</c> composes it (without peers), in this process, its data directory
/// named <see cref="Name"/>: an action learns which worker runs it from its working directory, and the name is what
/// <c>ExecutedActionMetadata.worker</c> reports.
/// </summary>
internal sealed class NamedWorker : IAsyncDisposable
{
    private readonly GrpcChannels _channels;
    private readonly WorkerStorage _storage;
    private readonly ActionRunner _runner;
    private readonly WorkerAgent _agent;

    private NamedWorker(string name, GrpcChannels channels, WorkerStorage storage, ActionRunner runner, WorkerAgent agent)
    {
        Name = name;
        _channels = channels;
        _storage = storage;
        _runner = runner;
        _agent = agent;
    }

    public string Name { get; }

    public string WorkerId => _agent.WorkerId;

    public static async Task<NamedWorker> StartAsync(string head, string parent, string name, StragglerOptions options, CancellationToken cancellationToken)
    {
        var data = Path.Combine(parent, name);
        System.IO.Directory.CreateDirectory(data);
        ExecutePhase.Traversable(data); // the run-as user walks down to its sandboxes
        var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        var connection = new HeadConnection([head], channels);
        var workerId = WorkerIdentity.LoadOrCreate(data);
        var work = Path.Combine(data, "work");
        var cache = new FileCache(Path.Combine(work, "cache"));
        var storage = WorkerStorage.Compose(connection, channels, cache, workerId, peers: false);
        var runner = new ActionRunner(storage.Store, new RunnerOptions { WorkDirectory = work, WorkerId = name, RunAsUser = options.RunAsUser, WarmSandboxes = 2 }, cache: cache);
        // No grace at stop: a losing run still under way when the case ends is killed, not waited for.
        var agent = new WorkerAgent(
            new WorkerAgentOptions { DataDirectory = data, Slots = 1, LeaseAhead = options.LeaseAhead, StopGraceMs = 0 },
            connection,
            runner,
            storage.Store);
        try
        {
            await agent.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await agent.DisposeAsync().ConfigureAwait(false);
            await runner.DisposeAsync().ConfigureAwait(false);
            storage.Dispose();
            channels.Dispose();
            throw;
        }

        return new NamedWorker(name, channels, storage, runner, agent);
    }

    public async ValueTask DisposeAsync()
    {
        await _agent.DisposeAsync().ConfigureAwait(false);
        await _runner.DisposeAsync().ConfigureAwait(false);
        _storage.Dispose();
        _channels.Dispose();
    }
}
