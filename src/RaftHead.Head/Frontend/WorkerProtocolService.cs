using Grpc.Core;
using RaftHead.Head.Reapi;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using RaftHead.Storage;

namespace RaftHead.Head.Frontend;

/// <summary>
/// The head's side of the worker protocol. Register, Retire, Complete and Fail are commands; Lease waits on
/// the worker's own signal (<see cref="WorkerSoftState.WatchLeases"/>) for grants the leader's placement made to it; Heartbeat is soft state only (never a log
/// write) and answers with the leases the worker must stop, derived from the applied state: any lease it runs that the
/// state no longer gives it (cancelled, finished elsewhere, superseded, its worker declared dead).
/// </summary>
public sealed class WorkerProtocolService : WorkerProtocol.WorkerProtocolBase
{
    private readonly SchedulerFrontend _frontend;

    public WorkerProtocolService(SchedulerFrontend frontend)
    {
        ArgumentNullException.ThrowIfNull(frontend);
        _frontend = frontend;
    }

    public override async Task<WorkerRegisterResponse> Register(WorkerRegisterRequest request, ServerCallContext context)
    {
        CheckWorkerId(request.WorkerId);
        var now = _frontend.NowUnixMs;
        var restarted = _frontend.Workers.Registered(request.WorkerId, request.Incarnation, request.PeerEndpoint, now);
        if (restarted && _frontend.Log.Current.LeasesOf(request.WorkerId).Count > 0)
        {
            // A new process: what the old one ran died with it. Requeue now rather than after a silent TTL.
            var dead = new DeclareWorkerDead
            {
                WorkerId = request.WorkerId,
                Reason = "the worker restarted",
                AtUnixMs = now,
                RequeueNotBeforeUnixMs = now,
            };
            await _frontend.ProposeAsync(new SchedulerCommand { DeclareWorkerDead = dead }, context.CancellationToken, refusalIsAnswer: true).ConfigureAwait(false);
        }

        var register = new RegisterWorker
        {
            WorkerId = request.WorkerId,
            Platform = request.Platform ?? new Build.Bazel.Remote.Execution.V2.Platform(),
            Slots = request.Slots,
            CpuMillis = request.CpuMillis,
            MemoryBytes = request.MemoryBytes,
            Gpus = request.Gpus,
            LeaseAhead = request.LeaseAhead,
            RegisteredAtUnixMs = now,
        };
        await _frontend.ProposeAsync(new SchedulerCommand { RegisterWorker = register }, context.CancellationToken).ConfigureAwait(false);
        return new WorkerRegisterResponse
        {
            HeartbeatIntervalMs = (uint)_frontend.Options.HeartbeatIntervalMs,
            HeartbeatTtlMs = (uint)_frontend.Options.HeartbeatTtlMs,
        };
    }

    public override async Task<WorkerLeaseResponse> Lease(WorkerLeaseRequest request, ServerCallContext context)
    {
        CheckWorkerId(request.WorkerId);
        var workers = _frontend.Workers;
        workers.Seen(request.WorkerId, _frontend.NowUnixMs);
        var wait = TimeSpan.FromMilliseconds(Math.Min(request.WaitMs, (uint)_frontend.Options.LeaseWaitMaxMs));
        var until = _frontend.Time.GetTimestamp() + (long)(wait.TotalSeconds * _frontend.Time.TimestampFrequency);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _frontend.Stopping);
        var response = new WorkerLeaseResponse();
        WorkerUsage? scanned = null;
        workers.StartLeaseWatcher(_frontend.Log, _frontend.Stopping);
        using var watch = workers.WatchLeases(request.WorkerId);
        while (true)
        {
            var changed = watch.Next;
            var state = _frontend.Log.Current;
            if (state.FindWorker(request.WorkerId) is null)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Worker '{request.WorkerId}' is not registered; register again."));
            }

            // The worker's usage is a new value whenever its leases change: an apply that left it alone needs no scan.
            var usage = state.UsageOf(request.WorkerId);
            if (ReferenceEquals(usage, scanned) || usage is null || usage.Slots == 0)
            {
                scanned = usage;
                if (!await WaitAsync(changed, until, linked.Token, context.CancellationToken).ConfigureAwait(false))
                {
                    return response;
                }

                continue;
            }

            scanned = usage;
            var leases = state.LeasesOf(request.WorkerId);
            workers.KeepDelivered(request.WorkerId, state.AppliedIndex, (name, attempt) => state.FindOperation(name) is { } op && SchedulerState.LeaseOf(op, request.WorkerId)?.Attempt == attempt);
            foreach (var operation in leases)
            {
                if (request.FreeSlots > 0 && response.Leases.Count >= request.FreeSlots)
                {
                    break;
                }

                // The original's lease or a speculative clone's: the worker runs either the same way.
                var (attempt, lease) = SchedulerState.LeaseOf(operation, request.WorkerId)!.Value;
                if (workers.TryDeliver(request.WorkerId, operation.Name, attempt, state.AppliedIndex))
                {
                    response.Leases.Add(new WorkLease
                    {
                        OperationName = operation.Name,
                        Attempt = attempt,
                        InstanceName = operation.InstanceName,
                        ActionDigest = operation.ActionDigest,
                        ExpiresAtUnixMs = lease.ExpiresAtUnixMs,
                        GpuDevices = { lease.GpuDevices },
                        Resources = operation.Resources,
                        AssignedIndex = state.AppliedIndex,
                        QueuedAtUnixMs = operation.SubmittedAtUnixMs,
                    });
                }
            }

            if (response.Leases.Count > 0)
            {
                foreach (var lease in response.Leases)
                {
                    await InlineMessagesAsync(lease, context.CancellationToken).ConfigureAwait(false);
                }

                return response;
            }

            if (!await WaitAsync(changed, until, linked.Token, context.CancellationToken).ConfigureAwait(false))
            {
                return response;
            }
        }
    }

    /// <summary>
    /// Puts the lease's Action and Command into it, so the worker starts without two reads in a row. Only what is small
    /// and readable now: anything else the worker reads from the CAS as before, so a failure here costs nothing.
    /// </summary>
    private async Task InlineMessagesAsync(WorkLease lease, CancellationToken cancellationToken)
    {
        var budget = _frontend.Options.LeaseInlineMessageMaxBytes;
        if (lease.ActionDigest is not { } actionDigest || actionDigest.SizeBytes > budget)
        {
            return;
        }

        try
        {
            var action = await _frontend.Blobs.ReadAllAsync(lease.InstanceName, actionDigest, cancellationToken).ConfigureAwait(false);
            if (action is null)
            {
                return;
            }

            lease.Action = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(action);
            var commandDigest = Build.Bazel.Remote.Execution.V2.Action.Parser.ParseFrom(action).CommandDigest;
            if (commandDigest is null || commandDigest.SizeBytes > budget - actionDigest.SizeBytes)
            {
                return;
            }

            if (await _frontend.Blobs.ReadAllAsync(lease.InstanceName, commandDigest, cancellationToken).ConfigureAwait(false) is { } command)
            {
                lease.Command = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(command);
            }
        }
        catch (Exception e) when (e is IOException or Google.Protobuf.InvalidProtocolBufferException)
        {
            // The worker reads them itself and reports what is wrong.
        }
    }

    /// <summary>Waits for the next change of the worker's leases until the poll's end; false when the poll is over (time spent, or the head stopping).</summary>
    private async Task<bool> WaitAsync(Task changed, long untilTimestamp, CancellationToken stopOrCaller, CancellationToken caller)
    {
        var left = _frontend.Time.GetElapsedTime(_frontend.Time.GetTimestamp(), untilTimestamp);
        if (left <= TimeSpan.Zero)
        {
            return false;
        }

        try
        {
            await changed.WaitAsync(left, _frontend.Time, stopOrCaller).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!caller.IsCancellationRequested)
        {
            return false;
        }
    }

    public override Task<WorkerHeartbeatResponse> Heartbeat(WorkerHeartbeatRequest request, ServerCallContext context)
    {
        CheckWorkerId(request.WorkerId);
        var leader = _frontend.Log.Leader;
        if (!leader.IsLeader)
        {
            // Liveness is the leader's soft state: a beat elsewhere would be lost on it.
            throw FrontendErrors.NotLeader(leader.LeaderId, leader.LeaderAddress);
        }

        _frontend.CorruptBlobs.Accept(request);
        var workers = _frontend.Workers;
        var state = _frontend.Log.Current;
        var response = new WorkerHeartbeatResponse
        {
            RegisterAgain = state.FindWorker(request.WorkerId) is null || !workers.IsIncarnation(request.WorkerId, request.Incarnation),
        };
        if (!response.RegisterAgain)
        {
            // Only a worker this leader knows leaves soft state: a stranger's beat must not make it look known.
            workers.Seen(request.WorkerId, _frontend.NowUnixMs);
            workers.Blobs(request.WorkerId, request.Stored, request.Evicted);
        }

        foreach (var running in request.Running)
        {
            // A leader that has not applied the assignment yet (new in its term, still catching up) would find the lease
            // unknown or queued and cancel a run that is valid: no judgement until it has caught up.
            if (running.AssignedIndex > state.AppliedIndex)
            {
                continue;
            }

            if (state.FindOperation(running.OperationName) is not { } operation
                || SchedulerState.LeaseOf(operation, request.WorkerId)?.Attempt != running.Attempt)
            {
                response.Cancel.Add(running);
            }
        }

        return Task.FromResult(response);
    }

    public override async Task<WorkerCompleteResponse> Complete(WorkerCompleteRequest request, ServerCallContext context)
    {
        CheckWorkerId(request.WorkerId);
        var complete = new CompleteOperation
        {
            OperationName = request.OperationName,
            WorkerId = request.WorkerId,
            Attempt = request.Attempt,
            CompletedAtUnixMs = _frontend.NowUnixMs,
            Result = request.Result,
            Status = request.Status,
        };
        var result = await _frontend.Completions.CompleteAsync(complete, context.CancellationToken).ConfigureAwait(false);
        return new WorkerCompleteResponse { Accepted = Accepted(result) };
    }

    public override async Task<WorkerFailResponse> Fail(WorkerFailRequest request, ServerCallContext context)
    {
        CheckWorkerId(request.WorkerId);
        var now = _frontend.NowUnixMs;
        var fail = new FailOperation
        {
            OperationName = request.OperationName,
            WorkerId = request.WorkerId,
            Attempt = request.Attempt,
            Reason = request.Reason,
            FailedAtUnixMs = now,
            NotBeforeUnixMs = _frontend.BackoffUntil(now, request.Attempt),
        };
        var result = await _frontend.ProposeAsync(new SchedulerCommand { Fail = fail }, context.CancellationToken, refusalIsAnswer: true).ConfigureAwait(false);
        return new WorkerFailResponse { Accepted = Accepted(result) };
    }

    public override Task<WhereIsResponse> WhereIs(WhereIsRequest request, ServerCallContext context)
    {
        ReapiErrors.CheckDigest(request.Digest, "digest");
        var response = new WhereIsResponse { HeadEndpoints = { _frontend.Options.HeadEndpoints } };
        response.PeerEndpoints.AddRange(_frontend.Workers.WhereIs(request.Digest, request.ExcludeWorkerId));
        return Task.FromResult(response);
    }

    public override async Task<WorkerRetireResponse> Retire(WorkerRetireRequest request, ServerCallContext context)
    {
        CheckWorkerId(request.WorkerId);
        var retire = new RetireWorker { WorkerId = request.WorkerId };
        var result = await _frontend.ProposeAsync(new SchedulerCommand { RetireWorker = retire }, context.CancellationToken).ConfigureAwait(false);
        return new WorkerRetireResponse { Removed = result.RetireWorker.Removed };
    }

    /// <summary>Stale and already-finished outcomes are answers (the worker drops the work); a malformed one is the caller's bug.</summary>
    private bool Accepted(SchedulerResult result) => result.Code switch
    {
        // A late result (its operation already finished with another attempt's) was only compared, not taken.
        SchedulerResultCode.Ok => result.Complete is not { Late: true },
        SchedulerResultCode.Stale or SchedulerResultCode.AlreadyFinished or SchedulerResultCode.NotFound => false,
        _ => throw FrontendErrors.FromResult(result, _frontend.RetryDelay),
    };

    private static void CheckWorkerId(string workerId)
    {
        if (workerId.Length == 0)
        {
            throw ReapiErrors.InvalidArgument("worker_id", "must not be empty");
        }
    }
}
