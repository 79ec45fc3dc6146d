using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Head.Reapi;
using RaftHead.Protocol.Runner;
using RaftHead.Storage;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Head.Execution;

/// <summary>
/// Executes actions on this node (<c>rh serve --exec</c>): checks an Execute request against the CAS, the action cache
/// and the node's platform, queues it (bounded, by REAPI priority, identical actions in flight sharing one operation),
/// and runs up to <see cref="ExecutionOptions.Slots"/> at once through an <see cref="IActionRunner"/>. It owns its worker
/// loops: <see cref="Start"/> launches them, <see cref="DisposeAsync"/> stops them and observes their exceptions.
/// Operations live in memory only; a restart forgets them and clients re-Execute on NOT_FOUND.
/// </summary>
public sealed class LocalScheduler : IAsyncDisposable
{
    private readonly IActionCache _actionCache;
    private readonly IActionRunner _runner;
    private readonly ExecutionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ActionInputs _inputs;
    private readonly OperationStore _store;
    private readonly SemaphoreSlim _queued = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private Task[] _workers = Array.Empty<Task>();
    private int _started;
    private int _disposed;

    public LocalScheduler(IBlobStore blobs, IActionCache actionCache, IActionRunner runner, ExecutionOptions options, TimeProvider? timeProvider = null, ILogger<LocalScheduler>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentNullException.ThrowIfNull(actionCache);
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _actionCache = actionCache;
        _runner = runner;
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _inputs = new ActionInputs(blobs, options);
        _store = new OperationStore(options.QueuedOperationsMax, options.FinishedOperationsMax, TimeSpan.FromMilliseconds(options.FinishedOperationRetentionMs));
    }

    public ExecutionOptions Options => _options;

    /// <summary>Operations waiting for a slot.</summary>
    public int QueuedCount => _store.QueuedCount;

    /// <summary>Slots busy running an action.</summary>
    public int RunningCount => _store.RunningCount;

    /// <summary>Starts one worker loop per slot. Call once.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The scheduler is already started.");
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var workers = new Task[_options.Slots];
        for (var slot = 0; slot < workers.Length; slot++)
        {
            var index = slot;
            workers[slot] = Task.Run(() => WorkerLoopAsync(index, _stopping.Token));
        }

        _workers = workers;
    }

    /// <summary>Every known operation (queued, executing, and finished ones still kept), oldest first.</summary>
    public IReadOnlyList<OperationInfo> Snapshot() => _store.Snapshot(_time.GetUtcNow());

    /// <summary>
    /// Validates and admits an Execute request. Answers a cache hit with an operation that is already done, joins an
    /// identical action in flight, or queues a new operation. Throws <see cref="RpcException"/> with the REAPI status for
    /// a bad request, absent blobs, an unsatisfiable platform or a full queue. The operation does not depend on
    /// <paramref name="cancellationToken"/> once admitted: a client that disconnects finds it again with WaitExecution.
    /// </summary>
    internal async Task<ExecutionOperation> SubmitAsync(ExecuteRequest request, string? toolInvocationId, CancellationToken cancellationToken)
    {
        ReapiErrors.CheckInstanceName(request.InstanceName);
        ReapiErrors.CheckDigest(request.ActionDigest, "action_digest");
        if (request.DigestFunction is not (DigestFunction.Types.Value.Unknown or DigestFunction.Types.Value.Sha256))
        {
            throw ReapiErrors.InvalidArgument("digest_function", $"{request.DigestFunction} is not supported; this server uses SHA256");
        }

        ThrowIfStopping();
        var instance = request.InstanceName;
        var digest = request.ActionDigest;

        // A cheap look before any I/O: an identical action already admitted passed every check below.
        if (_store.FindInFlight(instance, digest) is { } running)
        {
            LogJoined(running);
            return running;
        }

        var action = await _inputs.FetchActionAsync(instance, digest, cancellationToken).ConfigureAwait(false);
        var effective = WithEffectiveTimeout(action);
        var now = _time.GetUtcNow();
        var priority = request.ExecutionPolicy?.Priority ?? 0;

        // do_not_cache: the result was never cached, and must not be shared with another request either.
        if (!request.SkipCacheLookup && !action.DoNotCache)
        {
            var cached = await _actionCache.GetAsync(instance, digest, cancellationToken).ConfigureAwait(false);
            if (cached is not null)
            {
                // Born done and not yet shared, so completing it needs no lock.
                var hit = new ExecutionOperation(NewName(), instance, digest, effective, null, priority, toolInvocationId, now);
                hit.TryComplete(new ExecuteResponse { Result = cached, CachedResult = true, Status = new Google.Rpc.Status() }, now);

                _store.AddCompleted(hit, now);
                _logger.LogInformation("Operation {Operation} answered from the action cache for {ActionDigest}", hit.Name, FormatDigest(digest));
                return hit;
            }
        }

        var pins = new List<IDisposable>();
        ExecutionOperation candidate;
        try
        {
            var command = await _inputs.FetchCommandCheckingInputsAsync(instance, action, pins, cancellationToken).ConfigureAwait(false);

            // Action.platform (v2.2) wins; older clients put it only in the Command.
            var platform = action.Platform is { Properties.Count: > 0 } ? action.Platform : command.Platform;
            var unsatisfied = PlatformMatcher.FindUnsatisfied(platform, _options.PlatformProperties);
            if (unsatisfied.Count > 0)
            {
                throw ExecutionErrors.UnsatisfiablePlatform(unsatisfied);
            }

            ThrowIfStopping();
            candidate = new ExecutionOperation(NewName(), instance, digest, effective, command, priority, toolInvocationId, _time.GetUtcNow()) { InputPins = pins };
        }
        catch
        {
            ExecutionOperation.ReleasePins(pins);
            throw;
        }

        var (outcome, operation) = _store.Admit(candidate, deduplicate: !action.DoNotCache);
        if (outcome != OperationStore.Admission.Queued)
        {
            // Joined an identical operation (which holds its own pins) or refused.
            ExecutionOperation.ReleasePins(pins);
            candidate.InputPins = null;
        }

        switch (outcome)
        {
            case OperationStore.Admission.Queued:
                _queued.Release();
                _logger.LogInformation(
                    "Operation {Operation} queued for {ActionDigest} in instance {InstanceName} (priority {Priority}, invocation {ToolInvocationId})",
                    operation.Name, FormatDigest(digest), instance, priority, toolInvocationId);
                return operation;
            case OperationStore.Admission.Joined:
                LogJoined(operation);
                return operation;
            default:
                _logger.LogWarning("Execute of {ActionDigest} refused: the queue is full", FormatDigest(digest));
                throw ExecutionErrors.QueueFull(_options.QueuedOperationsMax, TimeSpan.FromMilliseconds(_options.QueueFullRetryDelayMs));
        }
    }

    /// <summary>The operation of that name, if it is running or finished recently.</summary>
    internal ExecutionOperation? Find(string name) => _store.Find(name, _time.GetUtcNow());

    /// <summary>Known operations after <paramref name="afterSequence"/>, in creation order.</summary>
    internal List<ExecutionOperation> List(long afterSequence) => _store.List(_time.GetUtcNow(), afterSequence);

    /// <summary>
    /// Cancels an operation: a queued one leaves the queue, a running one has its runner's token cancelled; either is
    /// completed at once with status CANCELLED. A finished one is left as it is. False if no such operation is known.
    /// </summary>
    public bool Cancel(string name)
    {
        var operation = Find(name);
        if (operation is null)
        {
            return false;
        }

        var response = new ExecuteResponse
        {
            Status = new Google.Rpc.Status { Code = (int)StatusCode.Cancelled, Message = "Cancelled by CancelOperation." },
            Message = "Cancelled by CancelOperation.",
        };
        if (_store.TryComplete(operation, response, _time.GetUtcNow()))
        {
            _logger.LogInformation("Operation {Operation} for {ActionDigest} cancelled", operation.Name, FormatDigest(operation.ActionDigest));
            operation.Cancellation.Cancel();
        }

        return true;
    }

    /// <summary>
    /// Streams <paramref name="operation"/> to a client: its current state at once, then each change, ending with the
    /// done Operation. Returns early (without ending the operation) when the client goes away; on shutdown the stream
    /// fails UNAVAILABLE so the client reconnects elsewhere.
    /// </summary>
    internal async Task WatchAsync(ExecutionOperation operation, IAsyncStreamWriter<Operation> responses, CancellationToken cancellationToken)
    {
        var keepAlive = _options.StreamKeepAliveMs > 0 ? TimeSpan.FromMilliseconds(_options.StreamKeepAliveMs) : Timeout.InfiniteTimeSpan;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        while (true)
        {
            var (current, _, changed) = operation.Observe();
            await responses.WriteAsync(current, cancellationToken).ConfigureAwait(false);
            if (current.Done)
            {
                return;
            }

            try
            {
                await changed.WaitAsync(keepAlive, _time, linked.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Nothing changed for a while: the loop sends the same state again to keep the stream alive.
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw ExecutionErrors.ShuttingDown();
            }
        }
    }

    /// <summary>Stops taking work, cancels what runs, waits for the worker loops, and ends every unfinished operation.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var operation in _store.Unfinished())
        {
            operation.Cancellation.Cancel();
        }

        try
        {
            await Task.WhenAll(_workers).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The loops catch per action; reaching here is a bug in the loop itself, already logged by it.
            _logger.LogError(e, "A scheduler worker loop ended with an exception");
        }

        var shutdown = new ExecuteResponse { Status = new Google.Rpc.Status { Code = (int)StatusCode.Unavailable, Message = "The head shut down before the action finished." } };
        foreach (var operation in _store.Unfinished())
        {
            _store.TryComplete(operation, shutdown, _time.GetUtcNow());
        }

        // _stopping and _queued stay undisposed: late callers (a stream ending, a request arriving) may still touch
        // them, and neither holds an OS handle or timer.
    }

    private async Task WorkerLoopAsync(int slot, CancellationToken stopping)
    {
        var worker = _options.Slots == 1 ? _options.WorkerName : string.Create(CultureInfo.InvariantCulture, $"{_options.WorkerName}/{slot}");
        try
        {
            while (true)
            {
                await _queued.WaitAsync(stopping).ConfigureAwait(false);
                var operation = _store.TryStart(worker, _time.GetUtcNow());
                if (operation is null)
                {
                    // Its operation was cancelled while queued; the permit outlived it.
                    continue;
                }

                try
                {
                    await RunAsync(operation, worker, stopping).ConfigureAwait(false);
                }
                finally
                {
                    _store.Finished(operation);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _logger.LogCritical(e, "Scheduler slot {Slot} stopped: its loop failed", slot);
            throw;
        }
    }

    /// <summary>Runs one operation to an outcome; never throws except on shutdown.</summary>
    private async Task RunAsync(ExecutionOperation operation, string worker, CancellationToken stopping)
    {
        var digest = FormatDigest(operation.ActionDigest);
        _logger.LogInformation("Operation {Operation} executing {ActionDigest} on {Worker}", operation.Name, digest, worker);
        var timeout = operation.Action.Timeout.ToTimeSpan();
        using var backstop = new CancellationTokenSource(timeout + TimeSpan.FromMilliseconds(_options.ActionTimeoutGraceMs), _time);
        using var run = CancellationTokenSource.CreateLinkedTokenSource(operation.Cancellation.Token, stopping, backstop.Token);
        ExecuteResponse response;
        try
        {
            var request = new ActionRunRequest(operation.InstanceName, operation.ActionDigest, operation.Action, operation.Command!) { QueuedAt = operation.QueuedAt };
            var outcome = await _runner.RunAsync(request, run.Token).ConfigureAwait(false);
            response = BuildResponse(operation, outcome, worker);
            if (!operation.Action.DoNotCache && outcome.Status.Code == (int)StatusCode.OK && outcome.Result.ExitCode == 0 && !operation.Cancellation.IsCancellationRequested)
            {
                // Before the operation completes, so a client that sees it done finds the result in the cache too.
                await StoreResultAsync(operation, outcome.Result, stopping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (operation.Cancellation.IsCancellationRequested || stopping.IsCancellationRequested)
        {
            // CancelOperation or shutdown already decided (or will decide) the outcome.
            return;
        }
        catch (OperationCanceledException) when (backstop.IsCancellationRequested)
        {
            _logger.LogWarning("Operation {Operation} for {ActionDigest} passed its {Timeout} timeout and the runner did not stop it; cancelled", operation.Name, digest, timeout);
            response = Failed(StatusCode.DeadlineExceeded, $"The action exceeded its timeout of {timeout.TotalSeconds:0.###} s.");
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Runner failed on operation {Operation} for {ActionDigest}", operation.Name, digest);
            response = Failed(StatusCode.Internal, $"The runner failed: {e.GetType().Name}: {e.Message}");
        }

        if (_store.TryComplete(operation, response, _time.GetUtcNow()))
        {
            _logger.LogInformation(
                "Operation {Operation} for {ActionDigest} completed: status {StatusCode}, exit code {ExitCode}",
                operation.Name, digest, response.Status?.Code ?? 0, response.Result?.ExitCode);
        }
    }

    private async Task StoreResultAsync(ExecutionOperation operation, ActionResult result, CancellationToken stopping)
    {
        try
        {
            await _actionCache.PutAsync(operation.InstanceName, operation.ActionDigest, result, stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The client still gets its result; only the next build misses.
            _logger.LogWarning(e, "Could not cache the result of {ActionDigest} (operation {Operation})", FormatDigest(operation.ActionDigest), operation.Name);
        }
    }

    private static ExecuteResponse BuildResponse(ExecutionOperation operation, ActionRunResult outcome, string worker)
    {
        var result = outcome.Result;
        var metadata = result.ExecutionMetadata;
        if (metadata is null || metadata.Worker.Length == 0 || metadata.QueuedTimestamp is null)
        {
            result = result.Clone();
            result.ExecutionMetadata ??= new ExecutedActionMetadata();
            if (result.ExecutionMetadata.Worker.Length == 0)
            {
                result.ExecutionMetadata.Worker = worker;
            }

            result.ExecutionMetadata.QueuedTimestamp ??= Timestamp.FromDateTimeOffset(operation.QueuedAt);
        }

        var response = new ExecuteResponse { Result = result, Status = outcome.Status, CachedResult = false };
        if (outcome.Status.Code != (int)StatusCode.OK)
        {
            response.Message = outcome.Status.Message;
        }

        return response;
    }

    private static ExecuteResponse Failed(StatusCode code, string message) => new()
    {
        Status = new Google.Rpc.Status { Code = (int)code, Message = message },
        Message = message,
    };

    private ReapiAction WithEffectiveTimeout(ReapiAction action)
    {
        var max = TimeSpan.FromMilliseconds(_options.ActionTimeoutMaxMs);
        var timeout = action.Timeout?.ToTimeSpan() ?? TimeSpan.Zero;
        if (timeout > max)
        {
            throw ReapiErrors.InvalidArgument("action.timeout", $"{timeout.TotalSeconds:0.###} s is longer than this server's maximum of {max.TotalSeconds:0} s");
        }

        if (timeout > TimeSpan.Zero)
        {
            return action;
        }

        var effective = action.Clone();
        effective.Timeout = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(_options.ActionTimeoutDefaultMs));
        return effective;
    }

    private void ThrowIfStopping()
    {
        if (_stopping.IsCancellationRequested)
        {
            throw ExecutionErrors.ShuttingDown();
        }
    }

    private void LogJoined(ExecutionOperation operation) =>
        _logger.LogInformation("Execute of {ActionDigest} joined operation {Operation} already in flight", FormatDigest(operation.ActionDigest), operation.Name);

    private static string NewName() => "operations/" + Guid.NewGuid().ToString("N");

    private static string FormatDigest(Digest digest) => string.Create(CultureInfo.InvariantCulture, $"{digest.Hash}/{digest.SizeBytes}");
}
