using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Protocol;
using RaftHead.Protocol.Runner;
using RaftHead.Protocol.V1;
using RaftHead.Storage;
using RaftHead.Storage.Remote;
using RaftHead.Worker.Peer;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Worker.Agent;

/// <summary>
/// A worker behind the worker protocol: registers with the heads, runs one lease loop per lease it may hold (long-poll
/// Lease, wait for a run slot, run the action, Complete with its result once the runner has stored the outputs on a
/// head, or Fail with the reason), and beats its heart, killing the runs a head names. It holds up to
/// <see cref="WorkerAgentOptions.Slots"/> plus <see cref="WorkerAgentOptions.LeaseAhead"/> leases but runs at most
/// <see cref="WorkerAgentOptions.Slots"/> at once: the rest wait in line for a slot (<see cref="SlotGate"/>), so a
/// freed slot starts the next action without a round through the heads. Stopping stops leasing, hands back the leases
/// still waiting (reported failed, so the heads requeue them at once), lets running work finish within
/// <see cref="WorkerAgentOptions.StopGraceMs"/>, then kills what is left and reports it failed.
/// </summary>
public sealed class WorkerAgent : IAsyncDisposable
{
    private readonly WorkerAgentOptions _options;
    private readonly HeadConnection _heads;
    private readonly IActionRunner _runner;
    private readonly IBlobStore _store;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly BlobReports? _blobs;
    private readonly CorruptFetchReports? _corrupt;
    /// <summary>How many finished leases the worker remembers, so a lease handed out again after its run is not run twice.</summary>
    private const int FinishedRememberedMax = 4_096;

    /// <summary>Every lease held: waiting for a slot, running, or being reported. Heartbeats list them all.</summary>
    private readonly ConcurrentDictionary<(string Operation, uint Attempt), Run> _held = new();

    private readonly SlotGate _slots;

    /// <summary>
    /// Leases that ran here lately. A head hands a lease out once by its own record, but that record is soft state of
    /// the head that served the poll: another replica, or a new leader, that has not applied the run's end yet offers
    /// the same attempt again. One attempt is one run; the head requeues work as a new attempt.
    /// </summary>
    private readonly ConcurrentDictionary<(string Operation, uint Attempt), byte> _finished = new();

    private readonly ConcurrentQueue<(string Operation, uint Attempt)> _finishedOrder = new();
    private readonly CancellationTokenSource _stopLeasing = new();
    private readonly CancellationTokenSource _abortRuns = new();
    private readonly CancellationTokenSource _stopHeartbeats = new();
    private readonly SemaphoreSlim _registering = new(1, 1);
    private Task? _leaseLoops;
    private Task? _heartbeatLoop;
    private int _heartbeatIntervalMs;
    private int _stopped;
    private int _runningCount;

    /// <param name="options">Capacity, pacing and data directory.</param>
    /// <param name="heads">The heads, for the worker protocol.</param>
    /// <param name="runner">Runs actions; it stores their outputs on a head (its store is a <see cref="RemoteBlobStore"/>).</param>
    /// <param name="store">Where the Action and Command of a lease are read.</param>
    /// <param name="logger">One event per state change.</param>
    /// <param name="blobs">The blobs to report in heartbeats for the heads' blob directory; none when null.</param>
    /// <param name="corrupt">Peers that sent corrupt blobs, reported in heartbeats so the heads quarantine them; none when null.</param>
    public WorkerAgent(WorkerAgentOptions options, HeadConnection heads, IActionRunner runner, IBlobStore store, ILogger? logger = null, BlobReports? blobs = null, CorruptFetchReports? corrupt = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _heads = heads ?? throw new ArgumentNullException(nameof(heads));
        _runner = runner ?? throw new ArgumentNullException(nameof(runner));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _logger = logger ?? NullLogger.Instance;
        _blobs = blobs;
        _corrupt = corrupt;
        _time = options.TimeProvider;
        _heartbeatIntervalMs = options.HeartbeatIntervalMs;
        _slots = new SlotGate(options.Slots);
        WorkerId = WorkerIdentity.LoadOrCreate(options.DataDirectory);
        Incarnation = WorkerIdentity.NewIncarnation();
    }

    public string WorkerId { get; }

    public string Incarnation { get; }

    /// <summary>Actions running now (holding a slot).</summary>
    public int RunningCount => Volatile.Read(ref _runningCount);

    /// <summary>Leases held ahead, waiting for a slot.</summary>
    public int QueuedCount => _slots.Waiting;

    /// <summary>Ends when every loop has ended (after <see cref="StopAsync"/>); faults if a loop failed unexpectedly.</summary>
    public Task Completion => _leaseLoops is null ? Task.CompletedTask : Task.WhenAll(_leaseLoops, _heartbeatLoop!);

    /// <summary>
    /// Registers (throws <see cref="HeadsUnavailableException"/> when no head answers within the connection's budget,
    /// or the head's error) and starts the loops.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_leaseLoops is not null)
        {
            throw new InvalidOperationException("the agent is already started");
        }

        await RegisterAsync(cancellationToken).ConfigureAwait(false);
        var loops = new Task[_options.Slots + _options.LeaseAheadCount];
        for (var slot = 0; slot < loops.Length; slot++)
        {
            loops[slot] = Task.Run(() => LeaseLoopAsync(), CancellationToken.None);
        }

        _leaseLoops = Task.WhenAll(loops);
        _heartbeatLoop = Task.Run(() => HeartbeatLoopAsync(), CancellationToken.None);
    }

    /// <summary>
    /// Stops leasing; running actions may finish within the grace period, after which they are killed and reported
    /// failed; heartbeats go on until then so their leases stay alive. <paramref name="cancellationToken"/> ends the grace early.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0 || _leaseLoops is null)
        {
            await Completion.ConfigureAwait(false);
            return;
        }

        _logger.LogInformation("Worker {Worker} stopping: {Running} action(s) running, {Queued} queued", WorkerId, RunningCount, QueuedCount);
        await _stopLeasing.CancelAsync().ConfigureAwait(false);
        try
        {
            await _leaseLoops.WaitAsync(TimeSpan.FromMilliseconds(_options.StopGraceMs), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            _logger.LogWarning("Worker {Worker}: {Running} action(s) still running after the stop grace; killing them", WorkerId, RunningCount);
            await _abortRuns.CancelAsync().ConfigureAwait(false);
            await _leaseLoops.ConfigureAwait(false);
        }
        finally
        {
            await _stopHeartbeats.CancelAsync().ConfigureAwait(false);
        }

        await _heartbeatLoop!.ConfigureAwait(false);
        _logger.LogInformation("Worker {Worker} stopped", WorkerId);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopLeasing.Dispose();
        _abortRuns.Dispose();
        _stopHeartbeats.Dispose();
        _registering.Dispose();
    }

    private static WorkerProtocol.WorkerProtocolClient Client(CallInvoker invoker) => new(invoker);

    private static CallOptions Options(int timeoutMs, CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow.AddMilliseconds(timeoutMs), cancellationToken: cancellationToken);

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var request = new WorkerRegisterRequest
        {
            WorkerId = WorkerId,
            Incarnation = Incarnation,
            Slots = (uint)_options.Slots,
            CpuMillis = _options.CpuMillis,
            MemoryBytes = _options.MemoryBytes,
            Gpus = _options.Gpus,
            LeaseAhead = (uint)_options.LeaseAheadCount,
            PeerEndpoint = _options.PeerEndpoint,
            Platform = new Platform(),
        };
        foreach (var (name, value) in _options.Platform)
        {
            request.Platform.Properties.Add(new Platform.Types.Property { Name = name, Value = value });
        }

        // Heartbeats and failing lease calls may both find the head has forgotten us: one registration answers both.
        await _registering.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var response = await _heads.CallAsync(
                (invoker, token) => Client(invoker).RegisterAsync(request, Options(_options.CallTimeoutMs, token)).ResponseAsync,
                cancellationToken).ConfigureAwait(false);
            if (response.HeartbeatIntervalMs > 0)
            {
                Volatile.Write(ref _heartbeatIntervalMs, (int)Math.Min(int.MaxValue, response.HeartbeatIntervalMs));
            }

            // A head that registers us may know nothing of what we hold (new leader, our restart): tell it all again.
            _blobs?.ResendAll();

            _logger.LogInformation(
                "Worker {Worker} ({Incarnation}) registered with {Head}: {Slots} slot(s), {LeaseAhead} lease(s) ahead, heartbeat every {IntervalMs} ms",
                WorkerId, Incarnation, _heads.Current, _options.Slots, _options.LeaseAheadCount, Volatile.Read(ref _heartbeatIntervalMs));
        }
        finally
        {
            _registering.Release();
        }
    }

    private async Task LeaseLoopAsync()
    {
        var stop = _stopLeasing.Token;
        var request = new WorkerLeaseRequest { WorkerId = WorkerId, FreeSlots = 1, WaitMs = (uint)_options.LeaseWaitMs };
        while (!stop.IsCancellationRequested)
        {
            WorkerLeaseResponse response;
            try
            {
                response = await _heads.CallAsync(
                    (invoker, token) => Client(invoker).LeaseAsync(request, Options(_options.LeaseWaitMs + _options.CallTimeoutMs, token)).ResponseAsync,
                    stop).ConfigureAwait(false);
            }
            catch (Exception e) when (stop.IsCancellationRequested && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
            {
                break;
            }
            catch (Exception e) when (e is RpcException or HeadsUnavailableException)
            {
                _logger.LogWarning("Worker {Worker}: Lease failed: {Error}", WorkerId, e.Message);
                if (e is RpcException { StatusCode: StatusCode.NotFound or StatusCode.FailedPrecondition })
                {
                    await TryRegisterAgainAsync(stop).ConfigureAwait(false);
                }

                await PauseAsync(stop).ConfigureAwait(false);
                continue;
            }

            // One loop holds one lease: leases beyond the one asked for are held after it, never beside it.
            foreach (var lease in response.Leases)
            {
                await HoldLeaseAsync(lease).ConfigureAwait(false);
            }
        }
    }

    private async Task HoldLeaseAsync(WorkLease lease)
    {
        var key = (lease.OperationName, lease.Attempt);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(_abortRuns.Token);
        var run = new Run(cancel, lease.AssignedIndex);
        if (!_held.TryAdd(key, run))
        {
            _logger.LogWarning("Worker {Worker}: lease {Operation} attempt {Attempt} is already held here; ignored", WorkerId, lease.OperationName, lease.Attempt);
            return;
        }

        // A run ending marks itself finished before it leaves _held, so one of the two checks sees it.
        if (_finished.ContainsKey(key))
        {
            _held.TryRemove(key, out _);
            _logger.LogWarning("Worker {Worker}: lease {Operation} attempt {Attempt} already ran here; ignored", WorkerId, lease.OperationName, lease.Attempt);
            return;
        }

        try
        {
            if (await TakeSlotAsync(lease, run).ConfigureAwait(false))
            {
                await RunAsync(lease, run).ConfigureAwait(false);
            }
        }
        finally
        {
            RememberFinished(key);
            _held.TryRemove(key, out _);
        }
    }

    /// <summary>
    /// Waits in line for a run slot. False when the lease ended while it waited: cancelled by the head (which expects no
    /// report), or the worker stopping or aborting (reported failed, so the heads requeue it at once rather than after
    /// its TTL); then it never ran and holds no slot.
    /// </summary>
    private async Task<bool> TakeSlotAsync(WorkLease lease, Run run)
    {
        if (_slots.TryTake())
        {
            return true;
        }

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(run.Cancel.Token, _stopLeasing.Token);
        if (await _slots.TakeAsync(wait.Token).ConfigureAwait(false))
        {
            return true;
        }

        if (run.CancelledByHead)
        {
            _logger.LogInformation("Worker {Worker} dropped queued {Operation} attempt {Attempt}: cancelled by the head", WorkerId, lease.OperationName, lease.Attempt);
            return false;
        }

        await FailAsync(lease, "the worker stopped before the action started").ConfigureAwait(false);
        return false;
    }

    /// <summary>Runs a lease that holds a slot; the slot is given back as soon as the run ends, before the report.</summary>
    private async Task RunAsync(WorkLease lease, Run run)
    {
        var cancel = run.Cancel;
        ActionRunResult? result = null;
        string? failure = null;
        Interlocked.Increment(ref _runningCount);
        _logger.LogInformation("Worker {Worker} runs {Operation} attempt {Attempt} (action {Action})", WorkerId, lease.OperationName, lease.Attempt, lease.ActionDigest?.Hash);
        try
        {
            var (request, missing) = await LoadAsync(lease, cancel.Token).ConfigureAwait(false);
            result = request is null ? missing! : await _runner.RunAsync(request, cancel.Token).ConfigureAwait(false);
        }
        catch (Exception) when (cancel.IsCancellationRequested)
        {
            // Whatever the run was doing when it was cancelled (a process, a gRPC fetch that ends as CANCELLED).
            if (run.CancelledByHead)
            {
                // The head asked for this: it knows the lease is over and expects no report.
                _logger.LogInformation("Worker {Worker} killed {Operation} attempt {Attempt}: cancelled by the head", WorkerId, lease.OperationName, lease.Attempt);
                return;
            }

            failure = "the worker stopped before the action finished";
        }
        catch (Exception e)
        {
            failure = e.Message;
        }
        finally
        {
            Interlocked.Decrement(ref _runningCount);
            _slots.Release();
        }

        if (failure is not null)
        {
            await FailAsync(lease, failure).ConfigureAwait(false);
            return;
        }

        await CompleteAsync(lease, result!).ConfigureAwait(false);
    }

    private void RememberFinished((string Operation, uint Attempt) key)
    {
        if (_finished.TryAdd(key, 0))
        {
            _finishedOrder.Enqueue(key);
        }

        while (_finishedOrder.Count > FinishedRememberedMax && _finishedOrder.TryDequeue(out var oldest))
        {
            _finished.TryRemove(oldest, out _);
        }
    }

    /// <summary>The lease's Action and Command, or the FAILED_PRECONDITION result REAPI gives when they are missing.</summary>
    private async Task<(ActionRunRequest? Request, ActionRunResult? Failure)> LoadAsync(WorkLease lease, CancellationToken cancellationToken)
    {
        var action = Inline(lease.Action, lease.ActionDigest, ReapiAction.Parser)
            ?? await ReadMessageAsync(lease.InstanceName, lease.ActionDigest, ReapiAction.Parser, cancellationToken).ConfigureAwait(false);
        if (action is null)
        {
            return (null, Missing(lease.ActionDigest));
        }

        var command = Inline(lease.Command, action.CommandDigest, Command.Parser)
            ?? await ReadMessageAsync(lease.InstanceName, action.CommandDigest, Command.Parser, cancellationToken).ConfigureAwait(false);
        if (command is null)
        {
            return (null, Missing(action.CommandDigest));
        }

        var queuedAt = lease.QueuedAtUnixMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(lease.QueuedAtUnixMs) : default;
        return (new ActionRunRequest(lease.InstanceName, lease.ActionDigest, action, command) { QueuedAt = queuedAt }, null);
    }

    /// <summary>A message the lease carried, if it is the blob the digest names; else null and it is read from the CAS.</summary>
    private static T? Inline<T>(Google.Protobuf.ByteString bytes, Digest? digest, MessageParser<T> parser)
        where T : class, IMessage<T>
    {
        if (bytes.IsEmpty || digest is null || !Digests.Matches(digest, bytes.Span))
        {
            return null;
        }

        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return null;
        }
    }

    private async Task<T?> ReadMessageAsync<T>(string instanceName, Digest? digest, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        if (digest is null || digest.SizeBytes < 0)
        {
            throw new InvalidDataException("the lease names no valid digest");
        }

        if (digest.SizeBytes > _options.MessageBlobMaxBytes)
        {
            throw new InvalidDataException($"blob {digest.Hash}/{digest.SizeBytes} is larger than a message may be ({_options.MessageBlobMaxBytes} bytes)");
        }

        var bytes = await _store.ReadAllAsync(instanceName, digest, cancellationToken).ConfigureAwait(false);
        return bytes is null ? null : parser.ParseFrom(bytes);
    }

    private static ActionRunResult Missing(Digest? digest)
    {
        var failure = new Google.Rpc.PreconditionFailure();
        failure.Violations.Add(new Google.Rpc.PreconditionFailure.Types.Violation { Type = "MISSING", Subject = $"blobs/{digest?.Hash}/{digest?.SizeBytes}" });
        var status = new Google.Rpc.Status { Code = (int)StatusCode.FailedPrecondition, Message = "the action's Action or Command blob is missing from the CAS" };
        status.Details.Add(Google.Protobuf.WellKnownTypes.Any.Pack(failure));
        return new ActionRunResult(new ActionResult(), status);
    }

    /// <summary>
    /// Reports a result until a head answers it. A result is the one thing a worker cannot make again cheaply, so a
    /// head that is down, electing or busy is waited out (the lease stays in the heartbeats meanwhile) until the lease's
    /// own deadline, after which the head has requeued the action anyway. A repeat the head already applied is answered
    /// as not accepted, which is harmless.
    /// </summary>
    private async Task CompleteAsync(WorkLease lease, ActionRunResult result)
    {
        var request = new WorkerCompleteRequest
        {
            WorkerId = WorkerId,
            OperationName = lease.OperationName,
            Attempt = lease.Attempt,
            Result = result.Result,
            Status = result.Status,
        };
        var abort = _abortRuns.Token;
        for (var tries = 1; ; tries++)
        {
            try
            {
                var response = await _heads.CallAsync(
                    (invoker, token) => Client(invoker).CompleteAsync(request, Options(_options.CallTimeoutMs, token)).ResponseAsync,
                    abort).ConfigureAwait(false);
                _logger.LogInformation(
                    "Worker {Worker} completed {Operation} attempt {Attempt}: exit {ExitCode}, status {Status}{Dropped}",
                    WorkerId, lease.OperationName, lease.Attempt, result.Result.ExitCode, (StatusCode)result.Status.Code, response.Accepted ? "" : " (not accepted: finished elsewhere or superseded)");
                return;
            }
            catch (Exception e) when (e is HeadsUnavailableException || (e is RpcException r && WorthRepeating(r.StatusCode) && !abort.IsCancellationRequested))
            {
                if (lease.ExpiresAtUnixMs > 0 && _time.GetUtcNow().ToUnixTimeMilliseconds() >= lease.ExpiresAtUnixMs)
                {
                    _logger.LogWarning("Worker {Worker}: gave up reporting {Operation} attempt {Attempt} after {Tries} tries: its lease has expired ({Error})", WorkerId, lease.OperationName, lease.Attempt, tries, e.Message);
                    return;
                }

                _logger.LogWarning("Worker {Worker}: Complete of {Operation} attempt {Attempt} failed (try {Tries}), trying again: {Error}", WorkerId, lease.OperationName, lease.Attempt, tries, e.Message);
            }
            catch (RpcException e) when (!abort.IsCancellationRequested)
            {
                // The head refused the report itself (a bad request): repeating it cannot help.
                _logger.LogWarning("Worker {Worker}: Complete of {Operation} attempt {Attempt} refused: {Error}", WorkerId, lease.OperationName, lease.Attempt, e.Message);
                return;
            }
            catch (Exception e) when (abort.IsCancellationRequested && e is OperationCanceledException or RpcException)
            {
                LogStoppedUnreported(lease);
                return;
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(_options.ErrorBackoffMs), _time, abort).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                LogStoppedUnreported(lease);
                return;
            }
        }
    }

    private void LogStoppedUnreported(WorkLease lease) =>
        _logger.LogWarning("Worker {Worker}: stopped before {Operation} attempt {Attempt} was reported; its lease will run out and the head requeue it", WorkerId, lease.OperationName, lease.Attempt);

    /// <summary>Answers that say "not now" rather than "no".</summary>
    private static bool WorthRepeating(StatusCode code) =>
        code is StatusCode.Unavailable or StatusCode.ResourceExhausted or StatusCode.DeadlineExceeded or StatusCode.Aborted or StatusCode.Internal or StatusCode.Unknown or StatusCode.Cancelled;

    private async Task FailAsync(WorkLease lease, string reason)
    {
        var request = new WorkerFailRequest { WorkerId = WorkerId, OperationName = lease.OperationName, Attempt = lease.Attempt, Reason = reason };
        try
        {
            await _heads.CallAsync(
                (invoker, token) => Client(invoker).FailAsync(request, Options(_options.CallTimeoutMs, token)).ResponseAsync,
                CancellationToken.None).ConfigureAwait(false);
            _logger.LogWarning("Worker {Worker} failed {Operation} attempt {Attempt}: {Reason}", WorkerId, lease.OperationName, lease.Attempt, reason);
        }
        catch (Exception e) when (e is RpcException or HeadsUnavailableException)
        {
            _logger.LogWarning("Worker {Worker}: Fail of {Operation} attempt {Attempt} ({Reason}) could not be sent: {Error}", WorkerId, lease.OperationName, lease.Attempt, reason, e.Message);
        }
    }

    private async Task HeartbeatLoopAsync()
    {
        var stop = _stopHeartbeats.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Volatile.Read(ref _heartbeatIntervalMs)), _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var request = new WorkerHeartbeatRequest { WorkerId = WorkerId, Incarnation = Incarnation };
            foreach (var (key, held) in _held)
            {
                request.Running.Add(new LeaseRef { OperationName = key.Operation, Attempt = key.Attempt, AssignedIndex = held.AssignedIndex });
            }

            // Nothing is ever evicted from the worker's blobs yet, so only stored ones are reported.
            _blobs?.Take(_options.BlobReportsPerBeatMax, request.Stored);
            _corrupt?.Take(_options.CorruptReportsPerBeatMax, request.CorruptBlobs);

            WorkerHeartbeatResponse response;
            try
            {
                response = await _heads.CallAsync(
                    (invoker, token) => Client(invoker).HeartbeatAsync(request, Options(_options.CallTimeoutMs, token)).ResponseAsync,
                    stop).ConfigureAwait(false);
            }
            catch (Exception e) when (stop.IsCancellationRequested && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
            {
                break;
            }
            catch (Exception e) when (e is RpcException or HeadsUnavailableException)
            {
                _blobs?.Return(request.Stored);
                _corrupt?.Return(request.CorruptBlobs);
                _logger.LogWarning("Worker {Worker}: Heartbeat failed: {Error}", WorkerId, e.Message);
                continue;
            }

            foreach (var cancel in response.Cancel)
            {
                if (_held.TryGetValue((cancel.OperationName, cancel.Attempt), out var run))
                {
                    await run.StopByHeadAsync().ConfigureAwait(false);
                }
            }

            if (response.RegisterAgain)
            {
                // A head that does not know this worker takes no accusation from it: tell the next beat's head again.
                _corrupt?.Return(request.CorruptBlobs);
                await TryRegisterAgainAsync(stop).ConfigureAwait(false);
            }
        }
    }

    private async Task TryRegisterAgainAsync(CancellationToken stop)
    {
        try
        {
            await RegisterAsync(stop).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or HeadsUnavailableException)
        {
            _logger.LogWarning("Worker {Worker}: registering again failed: {Error}", WorkerId, e.Message);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>A jittered pause after an error, so many workers that saw the same failure do not call back in step.</summary>
    private async Task PauseAsync(CancellationToken stop)
    {
        var wait = TimeSpan.FromMilliseconds((0.5 + (Random.Shared.NextDouble() / 2)) * _options.ErrorBackoffMs);
        try
        {
            await Task.Delay(wait, _time, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    internal sealed class Run(CancellationTokenSource cancel, long assignedIndex)
    {
        public CancellationTokenSource Cancel { get; } = cancel;

        /// <summary>Echoed in heartbeats: a head that has not applied this far does not judge the lease.</summary>
        public long AssignedIndex { get; } = assignedIndex;

        public volatile bool CancelledByHead;

        /// <summary>
        /// The head's stop. A heartbeat's answer may name a run that ends, and disposes its source, between the lookup
        /// and this call (the head stops leases it has just seen completed): stopping it is then a no-op, never an error
        /// that ends the heartbeats, after which the heads declare the worker dead again and again.
        /// </summary>
        public async Task StopByHeadAsync()
        {
            CancelledByHead = true;
            try
            {
                await Cancel.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
