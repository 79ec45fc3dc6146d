using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Head.Execution;
using RaftHead.Head.Graphs;
using RaftHead.Head.Reapi;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using RaftHead.Storage;

using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Head.Frontend;

/// <summary>
/// The execution frontend of one head: turns REAPI and worker-protocol calls into scheduler commands proposed through
/// an <see cref="ISchedulerLog"/>, and answers from the applied state, waking on its <see cref="ChangeFeed"/>. It owns
/// the leader's soft state (<see cref="Workers"/>) and the leader's duties loop (<see cref="Duties"/>), which
/// <see cref="Start"/> launches and <see cref="DisposeAsync"/> stops. The gRPC services
/// (<see cref="FrontendExecutionService"/>, <see cref="FrontendOperationsService"/>, <see cref="WorkerProtocolService"/>)
/// are thin shells over it.
/// </summary>
public sealed class SchedulerFrontend : IAsyncDisposable
{
    private readonly ActionInputs _inputs;
    private readonly ExecutionOptions _execution;
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _randomGate = new();
    private readonly Random _random;
    private readonly ILogger _logger;
    private readonly InputPins _pins = new();
    private readonly GraphDriver _graphs;
    private int _disposed;

    /// <param name="log">The replicated scheduler.</param>
    /// <param name="blobs">This head's CAS: Execute checks the action and its inputs there before it submits.</param>
    /// <param name="options">Frontend bounds and timings.</param>
    /// <param name="execution">The input checks' bounds (missing blobs listed, message sizes, the action timeout limit).</param>
    /// <param name="timeProvider">Every time the frontend puts in a command or waits for.</param>
    /// <param name="random">Backoff jitter; seeded in tests.</param>
    /// <param name="loggerFactory">Where logs go.</param>
    public SchedulerFrontend(
        ISchedulerLog log,
        IBlobStore blobs,
        FrontendOptions options,
        ExecutionOptions? execution = null,
        TimeProvider? timeProvider = null,
        Random? random = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _execution = execution ?? new ExecutionOptions();
        _execution.Validate();
        Log = log;
        Options = options;
        Time = timeProvider ?? TimeProvider.System;
        _random = random ?? new Random();
        _logger = (ILogger?)loggerFactory?.CreateLogger<SchedulerFrontend>() ?? NullLogger.Instance;
        Blobs = blobs;
        _inputs = new ActionInputs(blobs, _execution);
        Workers = new WorkerSoftState(options.BlobHintsPerWorkerMax);
        ActionCache = new CompletenessCheckingActionCache(new ReplicatedActionCache(log, Time, RetryDelay), blobs);
        Completions = new CompletionBatcher((command, cancellationToken) => ProposeAsync(command, cancellationToken, refusalIsAnswer: true), options.CompleteBatchMax);
        Duties = new LeaderDuties(this, (ILogger?)loggerFactory?.CreateLogger<LeaderDuties>() ?? NullLogger.Instance);
        CorruptBlobs = new CorruptBlobReports(this, (ILogger?)loggerFactory?.CreateLogger<CorruptBlobReports>() ?? NullLogger.Instance);
        _graphs = new GraphDriver(
            this,
            new GraphComposer(blobs, _execution.MessageBlobMaxBytes),
            options.GraphStartsConcurrentMax,
            (ILogger?)loggerFactory?.CreateLogger<GraphDriver>() ?? NullLogger.Instance);
    }

    public ISchedulerLog Log { get; }

    /// <summary>This head's CAS.</summary>
    public IBlobStore Blobs { get; }

    public FrontendOptions Options { get; }

    public TimeProvider Time { get; }

    /// <summary>The operations Execute and WaitExecution streams wait on, each woken only by its own changes.</summary>
    public OperationWatches Watches { get; } = new();

    /// <summary>Heartbeats, incarnations, delivered leases and blob hints: the leader's soft state.</summary>
    public WorkerSoftState Workers { get; }

    public LeaderDuties Duties { get; }

    /// <summary>Peers' reports of corrupt blobs, turned into quarantines on the leader.</summary>
    public CorruptBlobReports CorruptBlobs { get; }

    /// <summary>Workers' completions, committed together when they arrive together.</summary>
    internal CompletionBatcher Completions { get; }

    /// <summary>
    /// The action cache every REAPI door of this head reads: GetActionResult through it, Execute by checking what it
    /// found in the applied state; both count in its statistics and treat a result whose blobs are gone as a miss.
    /// </summary>
    public CompletenessCheckingActionCache ActionCache { get; }

    internal TimeSpan RetryDelay => TimeSpan.FromMilliseconds(Options.RetryDelayMs);

    internal CancellationToken Stopping => _stopping.Token;

    internal long NowUnixMs => Time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Starts the leader's duties loop (it idles while this replica does not lead).</summary>
    public void Start()
    {
        Duties.Start(_stopping.Token);
        _graphs.Start(_stopping.Token);
        _pins.Start(Log, _stopping.Token);
    }

    /// <summary>Proposes a command; a refused one (any code but OK) is thrown as its status unless <paramref name="refusalIsAnswer"/>.</summary>
    internal async Task<SchedulerResult> ProposeAsync(SchedulerCommand command, CancellationToken cancellationToken, bool refusalIsAnswer = false)
    {
        var result = await Log.ProposeAsync(command, cancellationToken).ConfigureAwait(false);
        if (result.Code != SchedulerResultCode.Ok && !refusalIsAnswer)
        {
            throw FrontendErrors.FromResult(result, RetryDelay);
        }

        return result;
    }

    /// <summary>The jittered time a failed attempt may run again.</summary>
    internal long BackoffUntil(long nowUnixMs, uint failedAttempt)
    {
        double jitter;
        lock (_randomGate)
        {
            jitter = _random.NextDouble();
        }

        return Backoff.NotBeforeUnixMs(nowUnixMs, Math.Max(failedAttempt, 1u), Options.RetryBackoffBaseMs, Options.RetryBackoffMaxMs, jitter);
    }

    /// <summary>
    /// Checks an Execute request against the CAS (the Action, then, unless the action cache answers, the Command and
    /// every input) and submits it. Returns the operation's name, or the done operation when this head's action cache
    /// holds a complete result (no log entry: a hit costs a lookup, not a commit). Throws the REAPI status for a bad request, absent
    /// blobs (FAILED_PRECONDITION, one MISSING violation per blob), a full queue (RESOURCE_EXHAUSTED with RetryInfo) or a
    /// replica that cannot take writes (UNAVAILABLE naming the leader).
    /// </summary>
    internal async Task<Submission> SubmitAsync(ExecuteRequest request, RequestMetadata? metadata, CancellationToken cancellationToken)
    {
        ReapiErrors.CheckInstanceName(request.InstanceName);
        ReapiErrors.CheckDigest(request.ActionDigest, "action_digest");
        if (request.DigestFunction is not (DigestFunction.Types.Value.Unknown or DigestFunction.Types.Value.Sha256))
        {
            throw ReapiErrors.InvalidArgument("digest_function", $"{request.DigestFunction} is not supported; this server uses SHA256");
        }

        var instance = request.InstanceName;
        var digest = request.ActionDigest;
        var action = await _inputs.FetchActionAsync(instance, digest, cancellationToken).ConfigureAwait(false);
        var timeout = action.Timeout?.ToTimeSpan() ?? TimeSpan.Zero;
        if (timeout > TimeSpan.FromMilliseconds(_execution.ActionTimeoutMaxMs))
        {
            throw ReapiErrors.InvalidArgument("action.timeout", string.Create(CultureInfo.InvariantCulture, $"{timeout.TotalSeconds:0.###} s is longer than this server's maximum of {_execution.ActionTimeoutMaxMs / 1000} s"));
        }

        // do_not_cache: never answered from the cache either, as a result that must not be cached must not be shared.
        var skipCache = request.SkipCacheLookup || action.DoNotCache;
        var platform = action.Platform ?? new Platform();
        if (!skipCache)
        {
            // A hit on this replica is a valid answer however far it lags (GetActionResult serves it the same way);
            // a miss goes to the log, whose apply looks at the cache again.
            var found = Log.Current.FindCachedResult(instance, digest);
            if (await ActionCache.CheckAsync(instance, found, cancellationToken).ConfigureAwait(false) is { } hit)
            {
                _logger.LogInformation("Execute of {ActionDigest} in instance {InstanceName}: answered from the action cache (invocation {ToolInvocationId})", Format(digest), instance, metadata?.ToolInvocationId ?? "");
                return new Submission(CachedAnswers.Name(instance, digest), CachedAnswers.Answer(instance, digest, hit, NowUnixMs));
            }

            // Present but with blobs gone: the log's apply must not answer with it either; the action runs again.
            skipCache = found is not null;
        }

        var pins = new List<IDisposable>();
        var largestFiles = new List<Digest>();
        try
        {
            var command = await _inputs.FetchCommandCheckingInputsAsync(instance, action, pins, largestFiles, cancellationToken).ConfigureAwait(false);

            // Action.platform (v2.2) wins; older clients put it only in the Command.
            var platformField = "action.platform";
            if (platform.Properties.Count == 0 && command.Platform is { } commandPlatform)
            {
                platform = commandPlatform;
                platformField = "command.platform";
            }

            (platform, var resources) = ResourceProperties.Split(platform, platformField);
            CheckSomeWorkerOffers(Log.Current, platform, resources);
            var toolClass = command.Arguments.Count > 0 ? ActionClasses.Tool(command.Arguments[0], platform) : "";
            var name = await ProposeSubmitAsync(request, metadata, action, platform, resources, largestFiles, skipCache, toolClass, cancellationToken).ConfigureAwait(false);
            _pins.Hold(name, pins);
            pins = [];
            return new Submission(name, null);
        }
        finally
        {
            foreach (var pin in pins)
            {
                pin.Dispose();
            }
        }
    }

    /// <summary>
    /// What Execute checks of an action, for actions the head builds itself (graph nodes): the Command and every input
    /// present (FAILED_PRECONDITION listing what is not, INVALID_ARGUMENT for a malformed tree), each pinned into
    /// <paramref name="pins"/>, and the largest input files into <paramref name="largestFiles"/>.
    /// </summary>
    internal async ValueTask CheckInputsAsync(string instance, ReapiAction action, List<IDisposable> pins, List<Digest> largestFiles, CancellationToken cancellationToken) =>
        await _inputs.FetchCommandCheckingInputsAsync(instance, action, pins, largestFiles, cancellationToken).ConfigureAwait(false);

    /// <summary>Keeps <paramref name="pins"/> until the operation ends, as Execute's input pins are kept.</summary>
    internal void HoldInputs(string operationName, List<IDisposable> pins) => _pins.Hold(operationName, pins);

    private async Task<string> ProposeSubmitAsync(ExecuteRequest request, RequestMetadata? metadata, ReapiAction action, Platform platform, ResourceRequest resources, List<Digest> inputHints, bool skipCache, string toolClass, CancellationToken cancellationToken)
    {
        var instance = request.InstanceName;
        var digest = request.ActionDigest;
        var submit = new SubmitAction
        {
            // Ours, not the client's: one Execute call is one submission; a proposal retried after a leader change
            // with this id cannot make a second operation.
            RequestId = Guid.NewGuid().ToString("N"),
            OperationNameSeed = Options.OperationNameSeed,
            SubmittedAtUnixMs = NowUnixMs,
            InstanceName = instance,
            ToolInvocationId = metadata?.ToolInvocationId ?? "",
            ActionDigest = digest,
            Platform = platform,
            Priority = request.ExecutionPolicy?.Priority ?? 0,
            Resources = resources,
            DoNotCache = action.DoNotCache,
            SkipCacheLookup = skipCache,
            InputHints = { inputHints },
            ActionClass = ActionClasses.Of(action),
            ToolClass = toolClass,
        };
        var result = await ProposeAsync(new SchedulerCommand { Submit = submit }, cancellationToken).ConfigureAwait(false);
        var name = result.Submit.OperationName;
        _logger.LogInformation(
            "Execute of {ActionDigest} in instance {InstanceName}: operation {Operation} {Disposition} (invocation {ToolInvocationId})",
            Format(digest), instance, name, result.Submit.Disposition, submit.ToolInvocationId);
        return name;
    }

    /// <summary>
    /// FAILED_PRECONDITION naming the properties no registered worker offers (or, when each is offered somewhere, all of
    /// them, as no single worker offers the set), or the resources no worker offering the platform has in all:
    /// queued, such work would wait until a fitting worker joins.
    /// </summary>
    private static void CheckSomeWorkerOffers(SchedulerState state, Platform platform, ResourceRequest resources)
    {
        if (state.Workers.IsEmpty)
        {
            // No worker yet (a cluster starting, or every worker restarting): the work waits for the first one.
            return;
        }

        var platformOffered = false;
        foreach (var worker in state.Workers.Values)
        {
            if (!worker.Retiring && PlatformRules.Satisfies(worker.Platform, platform))
            {
                if (ResourceProperties.CouldEverFit(worker, resources))
                {
                    return;
                }

                platformOffered = true;
            }
        }

        if (platformOffered)
        {
            throw ExecutionErrors.UnsatisfiablePlatform([(ResourceProperties.Describe(resources), "no registered worker offering the platform has that much in all")]);
        }

        var problems = new List<(string Property, string Reason)>();
        var single = new Platform();
        foreach (var property in platform.Properties)
        {
            single.Properties.Clear();
            single.Properties.Add(property);
            var offered = false;
            foreach (var worker in state.Workers.Values)
            {
                if (!worker.Retiring && PlatformRules.Satisfies(worker.Platform, single))
                {
                    offered = true;
                    break;
                }
            }

            if (!offered)
            {
                problems.Add((property.Name + "=" + property.Value, "no registered worker offers it"));
            }
        }

        if (problems.Count == 0)
        {
            var all = string.Join(",", platform.Properties.Select(p => p.Name + "=" + p.Value));
            problems.Add((all, "no single registered worker offers all of them"));
        }

        throw ExecutionErrors.UnsatisfiablePlatform(problems);
    }

    /// <summary>
    /// The operation, looked up here and, unless this replica already holds it finished (a final state), after a read
    /// barrier: a client that saw it done on one head sees it done on any. A cache hit's answer
    /// (<see cref="CachedAnswers"/>) is rebuilt from the action cache while its entry lasts.
    /// </summary>
    internal async Task<OperationState?> FindAsync(string name, CancellationToken cancellationToken)
    {
        if (Find(name) is { Phase: not (OperationPhase.Queued or OperationPhase.Leased) } operation)
        {
            return operation;
        }

        await Log.ReadBarrierAsync(cancellationToken).ConfigureAwait(false);
        return Find(name);
    }

    private OperationState? Find(string name)
    {
        if (Log.Current.FindOperation(name) is { } operation)
        {
            return operation;
        }

        return CachedAnswers.TryParse(name, out var instance, out var digest) && Log.Current.FindCachedResult(instance, digest) is { } result
            ? CachedAnswers.Answer(instance, digest, result, NowUnixMs)
            : null;
    }

    /// <summary>
    /// Streams an operation: its current state at once, then after each change, ending with the done Operation; the
    /// current state again after <see cref="FrontendOptions.StreamKeepAliveMs"/> of silence. A client going away ends
    /// the stream, never the operation; shutdown fails it UNAVAILABLE so the client resumes with WaitExecution.
    /// </summary>
    internal async Task WatchAsync(string name, IAsyncStreamWriter<Operation> responses, CancellationToken cancellationToken)
    {
        if (CachedAnswers.TryParse(name, out _, out _))
        {
            // Done from the start, and outside the log: nothing to wait for.
            var answer = Find(name) ?? throw FrontendErrors.OperationNotFound(name);
            await responses.WriteAsync(OperationView.ToOperation(answer), cancellationToken).ConfigureAwait(false);
            return;
        }

        var keepAlive = Options.StreamKeepAliveMs > 0 ? TimeSpan.FromMilliseconds(Options.StreamKeepAliveMs) : Timeout.InfiniteTimeSpan;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var sentVersion = -1L;
        Watches.Start(Log, _stopping.Token);
        using var watch = Watches.Watch(name);
        while (true)
        {
            var changed = watch.Next;
            var operation = Log.Current.FindOperation(name) ?? throw FrontendErrors.OperationNotFound(name);
            if (operation.ChangedVersion != sentVersion)
            {
                var view = OperationView.ToOperation(operation);
                await responses.WriteAsync(view, cancellationToken).ConfigureAwait(false);
                if (view.Done)
                {
                    return;
                }

                sentVersion = operation.ChangedVersion;
            }

            try
            {
                await changed.WaitAsync(keepAlive, Time, linked.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                sentVersion = -1;
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "This head is shutting down; resume with WaitExecution on another head."));
            }
        }
    }

    /// <summary>Stops the duties loop and ends open streams (UNAVAILABLE).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await Duties.StopAsync().ConfigureAwait(false);
        await _graphs.DisposeAsync().ConfigureAwait(false);
        await _pins.StopAsync().ConfigureAwait(false);
    }

    internal static string Format(Digest digest) => string.Create(CultureInfo.InvariantCulture, $"{digest.Hash}/{digest.SizeBytes}");
}

/// <summary>What an Execute became: an operation to watch by <paramref name="Name"/>, or an <paramref name="Answered"/> one, already done.</summary>
internal readonly record struct Submission(string Name, OperationState? Answered);
