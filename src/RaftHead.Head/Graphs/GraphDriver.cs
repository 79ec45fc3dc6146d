using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using RaftHead.Head.Frontend;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Graphs;

/// <summary>
/// The leader's part in running graphs: each ready node is composed into an action (<see cref="GraphComposer"/>) and
/// started with one StartGraphNode entry, or failed with FailGraphNode when it cannot be composed. Everything it
/// decides is in the log, so a new leader simply looks at the ready nodes again: a start proposed twice (an old and a
/// new leader) commits once, the second is stale. Compositions run concurrently, up to a bound, off the duties loop,
/// because they read and write the CAS.
/// </summary>
internal sealed class GraphDriver : IAsyncDisposable
{
    private readonly SchedulerFrontend _frontend;
    private readonly GraphComposer _composer;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string Graph, int Node, uint Runs), bool> _starting = new();
    private readonly SemaphoreSlim _concurrency;
    private readonly ConcurrentDictionary<Task, bool> _running = new();

    // Well inside the scheduler's bound on reasons.
    private const int ReasonLengthMax = 2_000;
    private Task? _loop;

    public GraphDriver(SchedulerFrontend frontend, GraphComposer composer, int concurrencyMax, ILogger logger)
    {
        _frontend = frontend;
        _composer = composer;
        _logger = logger;
        _concurrency = new SemaphoreSlim(concurrencyMax, concurrencyMax);
    }

    public void Start(CancellationToken stopping) => _loop = Task.Run(() => RunAsync(stopping), CancellationToken.None);

    /// <summary>Waits for the loop and every start in progress to end (the token given to <see cref="Start"/> stops them).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        await Task.WhenAll(_running.Keys).ConfigureAwait(false);
        _concurrency.Dispose();
    }

    /// <summary>The request id a node's run is submitted under: the same on every leader, and short whatever the ids' lengths.</summary>
    public static string RequestId(string graphId, string nodeId, uint run)
    {
        var key = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{graphId}\n{nodeId}\n{run}"));
        return "graph-" + Convert.ToHexStringLower(SHA256.HashData(key));
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        // Also on a timer: a start refused for back-pressure is tried again without waiting for another change.
        var interval = TimeSpan.FromMilliseconds(_frontend.Options.DutiesIntervalMs);
        while (!stopping.IsCancellationRequested)
        {
            var changed = _frontend.Log.Changes.Next;
            if (_frontend.Log.Leader.IsLeader)
            {
                StartReadyNodes(_frontend.Log.Current, stopping);
            }

            try
            {
                await changed.WaitAsync(interval, _frontend.Time, stopping).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private void StartReadyNodes(SchedulerState state, CancellationToken stopping)
    {
        foreach (var graph in state.Graphs.Values)
        {
            foreach (var index in graph.Ready)
            {
                var key = (graph.Id, index, graph.Nodes[index].Runs);
                if (_starting.TryAdd(key, true))
                {
                    var task = StartAsync(graph, index, key, stopping);
                    _running.TryAdd(task, true);
                    _ = task.ContinueWith(static (t, running) => ((ConcurrentDictionary<Task, bool>)running!).TryRemove(t, out _), _running, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
            }
        }
    }

    private async Task StartAsync(GraphRecord graph, int index, (string Graph, int Node, uint Runs) key, CancellationToken stopping)
    {
        var nodeId = graph.Request.Nodes[index].Id;
        try
        {
            await _concurrency.WaitAsync(stopping).ConfigureAwait(false);
            try
            {
                var pins = new List<IDisposable>();
                SchedulerResult result;
                SchedulerCommand command;
                try
                {
                    command = await ComposeAsync(graph, index, pins, stopping).ConfigureAwait(false);
                    result = await _frontend.ProposeAsync(command, stopping, refusalIsAnswer: true).ConfigureAwait(false);
                    if (result.Code == SchedulerResultCode.Ok && command.CommandCase == SchedulerCommand.CommandOneofCase.StartGraphNode)
                    {
                        // As for Execute: the node's inputs stay in the CAS until its operation ends.
                        _frontend.HoldInputs(result.Submit.OperationName, pins);
                        pins = [];
                    }
                }
                finally
                {
                    foreach (var pin in pins)
                    {
                        pin.Dispose();
                    }
                }

                if (result.Code == SchedulerResultCode.InvalidArgument && command.CommandCase == SchedulerCommand.CommandOneofCase.StartGraphNode)
                {
                    // The composed action itself is refused (its platform, say): the node fails with the reason.
                    await _frontend.ProposeAsync(Fail(graph, index, "the action was refused: " + result.Message), stopping, refusalIsAnswer: true).ConfigureAwait(false);
                }
                else if (result.Code is not (SchedulerResultCode.Ok or SchedulerResultCode.Stale))
                {
                    _logger.LogInformation("Starting node {Node} of graph {Graph} deferred: {Code} {Message}", nodeId, graph.Id, result.Code, result.Message);
                }
            }
            finally
            {
                _concurrency.Release();
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.ResourceExhausted or StatusCode.Cancelled)
        {
            // Leadership moved or the log is busy: the next look at the ready nodes tries again.
            _logger.LogDebug("Starting node {Node} of graph {Graph} deferred: {Reason}", nodeId, graph.Id, e.Status.Detail);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Starting node {Node} of graph {Graph} failed", nodeId, graph.Id);
        }
        finally
        {
            _starting.TryRemove(key, out _);
        }
    }

    /// <summary>The StartGraphNode for a composed node, or the FailGraphNode saying why it cannot be composed.</summary>
    /// <param name="pins">Receives a pin on each of the composed action's inputs, checked present as Execute checks them.</param>
    private async Task<SchedulerCommand> ComposeAsync(GraphRecord graph, int index, List<IDisposable> pins, CancellationToken cancellationToken)
    {
        var lost = await _composer.LostProducersAsync(graph, index, cancellationToken).ConfigureAwait(false);
        if (lost.Count > 0)
        {
            var consumer = graph.Nodes[index];
            var reason = $"outputs that node '{consumer.Id}' needs are gone from the CAS";
            _logger.LogWarning("Node {Node} of graph {Graph}: the outputs it takes from {Producers} are gone; running them again", consumer.Id, graph.Id, string.Join(", ", lost));
            var regenerate = new RegenerateGraphInputs { GraphId = graph.Id, NodeId = consumer.Id, Runs = consumer.Runs, Reason = reason, AtUnixMs = _frontend.NowUnixMs };
            regenerate.Producers.Add(lost);
            return new SchedulerCommand { RegenerateGraphInputs = regenerate };
        }

        ComposedAction composed;
        try
        {
            composed = await _composer.ComposeAsync(graph, index, cancellationToken).ConfigureAwait(false);
        }
        catch (GraphCompositionException e)
        {
            return Fail(graph, index, e.Message);
        }

        Build.Bazel.Remote.Execution.V2.Platform platform;
        ResourceRequest resources;
        try
        {
            (platform, resources) = ResourceProperties.Split(composed.Action.Platform, "platform");
        }
        catch (RpcException e)
        {
            return Fail(graph, index, e.Status.Detail);
        }

        var instance = graph.Request.InstanceName;
        var node = graph.Nodes[index];
        var largestFiles = new List<Build.Bazel.Remote.Execution.V2.Digest>();
        try
        {
            await _frontend.CheckInputsAsync(instance, composed.Action, pins, largestFiles, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.FailedPrecondition or StatusCode.InvalidArgument)
        {
            // An input of the node's own tree is gone or malformed (its producers' outputs were checked above).
            return Fail(graph, index, "its inputs are not usable: " + e.Status.Detail);
        }

        // A cached result whose blobs are gone is no answer: the node runs again, as Execute would.
        var skipCache = false;
        if (!composed.Action.DoNotCache && _frontend.Log.Current.FindCachedResult(instance, composed.Digest) is { } cached)
        {
            skipCache = await _frontend.ActionCache.CheckAsync(instance, cached, cancellationToken).ConfigureAwait(false) is null;
        }

        var submit = new SubmitAction
        {
            RequestId = RequestId(graph.Id, node.Id, node.Runs + 1),
            OperationNameSeed = _frontend.Options.OperationNameSeed,
            SubmittedAtUnixMs = _frontend.NowUnixMs,
            InstanceName = instance,
            ToolInvocationId = graph.Request.ToolInvocationId.Length > 0 ? graph.Request.ToolInvocationId : graph.Id,
            ActionDigest = composed.Digest,
            Platform = platform,
            Resources = resources,
            DoNotCache = composed.Action.DoNotCache,
            SkipCacheLookup = skipCache,
            ActionClass = ActionClasses.Of(composed.Action),
            ToolClass = graph.Request.Nodes[index].Arguments is { Count: > 0 } argv ? ActionClasses.Tool(argv[0], platform) : "",
        };
        submit.InputHints.Add(largestFiles);

        return new SchedulerCommand { StartGraphNode = new StartGraphNode { GraphId = graph.Id, NodeId = node.Id, Runs = node.Runs, Submit = submit } };
    }

    private SchedulerCommand Fail(GraphRecord graph, int index, string reason)
    {
        var node = graph.Nodes[index];
        _logger.LogWarning("Node {Node} of graph {Graph} cannot run: {Reason}", node.Id, graph.Id, reason);
        if (reason.Length > ReasonLengthMax)
        {
            reason = string.Concat(reason.AsSpan(0, ReasonLengthMax - 3), "...");
        }

        return new SchedulerCommand { FailGraphNode = new FailGraphNode { GraphId = graph.Id, NodeId = node.Id, Runs = node.Runs, Reason = reason, AtUnixMs = _frontend.NowUnixMs } };
    }
}
