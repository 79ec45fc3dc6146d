using Microsoft.Extensions.Logging;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.Runner;
using RaftHead.Storage;
using RaftHead.Storage.Remote;

namespace RaftHead.Worker.Agent;

/// <summary>
/// A worker living in its head's process (<c>rh serve --exec</c>, tests): the same <see cref="WorkerAgent"/> a separate
/// <c>rh worker</c> runs, speaking the worker protocol to the head over loopback, with one shortcut that changes nothing
/// the head can see: the runner reads inputs and writes outputs straight to the head's CAS in this process.
/// </summary>
public sealed class InProcessWorker : IAsyncDisposable
{
    private readonly GrpcChannels _channels;
    private readonly IActionRunner _runner;
    private readonly WorkerAgent _agent;

    private InProcessWorker(GrpcChannels channels, IActionRunner runner, WorkerAgent agent)
    {
        _channels = channels;
        _runner = runner;
        _agent = agent;
    }

    public WorkerAgent Agent => _agent;

    /// <summary>Registers with the heads (host:port; the first is tried first) and starts leasing.</summary>
    /// <param name="heads">The heads, host:port: its own, and in a test of a cluster, the others.</param>
    /// <param name="store">The head's CAS, which <paramref name="runner"/> also uses.</param>
    /// <param name="runner">Runs the actions; owned from here on (disposed with this worker, or if the start fails).</param>
    /// <param name="options">Slots, data directory (worker id), pacing.</param>
    /// <param name="cancellationToken">Cancels the registration.</param>
    /// <param name="logger">The agent's events.</param>
    public static async Task<InProcessWorker> StartAsync(IReadOnlyList<string> heads, IBlobStore store, IActionRunner runner, WorkerAgentOptions options, CancellationToken cancellationToken, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        var channels = new GrpcChannels(HeadConnection.ChannelSettings);
        WorkerAgent? agent = null;
        try
        {
            agent = new WorkerAgent(options, new HeadConnection(heads, channels), runner, store, logger);
            await agent.StartAsync(cancellationToken).ConfigureAwait(false);
            return new InProcessWorker(channels, runner, agent);
        }
        catch
        {
            if (agent is not null)
            {
                await agent.DisposeAsync().ConfigureAwait(false);
            }

            await DisposeRunnerAsync(runner).ConfigureAwait(false);
            channels.Dispose();
            throw;
        }
    }

    /// <summary>Stops leasing, lets running actions finish within the agent's grace, then releases the runner.</summary>
    public async ValueTask DisposeAsync()
    {
        await _agent.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _agent.DisposeAsync().ConfigureAwait(false);
        await DisposeRunnerAsync(_runner).ConfigureAwait(false);
        _channels.Dispose();
    }

    private static async ValueTask DisposeRunnerAsync(IActionRunner runner)
    {
        if (runner is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync().ConfigureAwait(false);
        }
    }
}
