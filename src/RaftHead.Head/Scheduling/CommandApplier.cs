using System.Globalization;
using System.Text;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// Applies one command to a state, giving the next state and the result. Pure: everything it reads is the state, the
/// command, the log index and the limits. Every rejection is decided before anything changes, so a rejected command
/// leaves the state as it was (only <see cref="SchedulerState.AppliedIndex"/> moves). A batch of lease grants is the
/// one command whose parts are decided one by one, each against the state the earlier ones left.
/// </summary>
internal sealed partial class CommandApplier
{
    private const int SeedLengthMax = 64;

    private readonly SchedulerLimits _limits;
    private readonly long _index;
    private readonly long _nextVersion;
    private SchedulerState _s;
    private bool _changed;

    private CommandApplier(SchedulerState state, SchedulerLimits limits, long index)
    {
        _s = state;
        _limits = limits;
        _index = index;
        _nextVersion = state.Version + 1;
    }

    public static (SchedulerState State, SchedulerResult Result) Apply(SchedulerState state, SchedulerLimits limits, long index, SchedulerCommand command)
    {
        var applier = new CommandApplier(state, limits, index);
        var result = command.Version < SchedulerStateMachine.OldestCommandVersion || command.Version > SchedulerStateMachine.CommandVersion
            ? UnsupportedVersion(command.Version)
            : applier.Dispatch(command);
        applier.FollowTouchedOperations();
        var next = applier._changed
            ? applier._s with { AppliedIndex = index, Version = applier._nextVersion }
            : state with { AppliedIndex = index };
        result.Version = next.Version;
        if (result.DetailCase == SchedulerResult.DetailOneofCase.CompleteBatch)
        {
            foreach (var part in result.CompleteBatch.Results)
            {
                part.Version = next.Version;
            }
        }

        return (next, result);
    }

    /// <summary>The result for a command that could not even be decoded.</summary>
    public static (SchedulerState State, SchedulerResult Result) Undecodable(SchedulerState state, long index, string problem)
    {
        var result = Error(SchedulerResultCode.InvalidArgument, "the command is not a SchedulerCommand: " + problem);
        result.Version = state.Version;
        return (state with { AppliedIndex = index }, result);
    }

    private SchedulerResult Dispatch(SchedulerCommand command) => command.CommandCase switch
    {
        SchedulerCommand.CommandOneofCase.Submit => Submit(command.Submit),
        SchedulerCommand.CommandOneofCase.RegisterWorker => RegisterWorker(command.RegisterWorker),
        SchedulerCommand.CommandOneofCase.RetireWorker => RetireWorker(command.RetireWorker),
        SchedulerCommand.CommandOneofCase.AssignLeases => AssignLeases(command.AssignLeases),
        SchedulerCommand.CommandOneofCase.Complete => Complete(command.Complete),
        SchedulerCommand.CommandOneofCase.Fail => Fail(command.Fail),
        SchedulerCommand.CommandOneofCase.DeadLetter => DeadLetter(command.DeadLetter),
        SchedulerCommand.CommandOneofCase.Cancel => Cancel(command.Cancel),
        SchedulerCommand.CommandOneofCase.UpdateActionCache => UpdateActionCache(command.UpdateActionCache),
        SchedulerCommand.CommandOneofCase.DeclareWorkerDead => DeclareWorkerDead(command.DeclareWorkerDead),
        SchedulerCommand.CommandOneofCase.Prune => Prune(command.Prune),
        SchedulerCommand.CommandOneofCase.CompleteBatch => command.Version < 2 ? UnsupportedVersion(command.Version) : CompleteBatch(command.CompleteBatch),
        SchedulerCommand.CommandOneofCase.SubmitGraph => command.Version < 3 ? UnsupportedVersion(command.Version) : SubmitGraph(command.SubmitGraph),
        SchedulerCommand.CommandOneofCase.StartGraphNode => command.Version < 3 ? UnsupportedVersion(command.Version) : StartGraphNode(command.StartGraphNode),
        SchedulerCommand.CommandOneofCase.FailGraphNode => command.Version < 3 ? UnsupportedVersion(command.Version) : FailGraphNode(command.FailGraphNode),
        SchedulerCommand.CommandOneofCase.CancelGraph => command.Version < 3 ? UnsupportedVersion(command.Version) : CancelGraph(command.CancelGraph),
        SchedulerCommand.CommandOneofCase.RegenerateGraphInputs => command.Version < 3 ? UnsupportedVersion(command.Version) : RegenerateGraphInputs(command.RegenerateGraphInputs),
        SchedulerCommand.CommandOneofCase.QuarantineWorker => command.Version < 4 ? UnsupportedVersion(command.Version) : QuarantineWorker(command.QuarantineWorker),
        SchedulerCommand.CommandOneofCase.ReleaseWorker => command.Version < 4 ? UnsupportedVersion(command.Version) : ReleaseWorker(command.ReleaseWorker),
        _ => Error(SchedulerResultCode.InvalidArgument, "the command names no operation (empty oneof)"),
    };

    // ---------------------------------------------------------------- commands

    private SchedulerResult Submit(SubmitAction submit)
    {
        var invalid = CheckId(submit.RequestId, "request_id")
            ?? CheckSeed(submit.OperationNameSeed)
            ?? Prefixed("action_digest", Digests.Validate(submit.ActionDigest))
            ?? CheckLength(submit.ToolInvocationId, "tool_invocation_id")
            ?? CheckLength(submit.InstanceName, "instance_name")
            ?? PlatformRules.Validate(submit.Platform, "platform")
            ?? CheckGpu(submit.Resources?.GpuMillis ?? 0)
            ?? CheckAmounts(submit.Resources?.CpuMillis ?? 0, submit.Resources?.MemoryBytes ?? 0, "resources.")
            ?? CheckInputHints(submit.InputHints)
            ?? CheckLength(submit.Verifies, "verifies");
        if (invalid is null && submit.Verifies.Length > 0 && !submit.DoNotCache)
        {
            // A verification run must neither join another run nor give the cache a second result.
            invalid = "a verification run (verifies) must be do_not_cache";
        }

        if (invalid is not null)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        var key = ActionKey.Of(submit.InstanceName, submit.ActionDigest);
        if (_s.FindOperationByRequest(submit.RequestId) is { } earlier)
        {
            if (earlier.InstanceName != submit.InstanceName || !earlier.ActionDigest.Equals(submit.ActionDigest))
            {
                return Error(SchedulerResultCode.InvalidArgument, $"request_id {submit.RequestId} was already used for another action ({earlier.Name})");
            }

            return Submitted(earlier.Name, SubmitDisposition.DuplicateRequest);
        }

        // do_not_cache: the result must not be shared, in either direction (not read from the cache, not joined).
        if (!submit.DoNotCache && !submit.SkipCacheLookup && _s.Cache.Find(key) is { } hit)
        {
            var cached = NewOperation(submit);
            cached.Phase = OperationPhase.Completed;
            cached.Attempt = 0;
            cached.Result = hit.Result;
            cached.CachedResult = true;
            cached.Status = new Google.Rpc.Status();
            cached.FinishedAtUnixMs = submit.SubmittedAtUnixMs;
            Put(cached);
            MarkFinished(cached);
            return Submitted(cached.Name, SubmitDisposition.Cached);
        }

        // skip_cache_lookup still joins: an execution in flight is a fresh one, which is what the client asked for.
        if (!submit.DoNotCache && _s.InFlight.TryGetValue(key, out var joinedName))
        {
            var joined = Touch(_s.Operations[joinedName]);
            joined.RequestIds.Add(submit.RequestId);
            Put(joined);
            _s = _s with { Requests = _s.Requests.Add(submit.RequestId, joined.Name) };
            return Submitted(joined.Name, SubmitDisposition.Joined);
        }

        if (_s.UnfinishedCount >= _limits.UnfinishedOperationsMax)
        {
            return Error(SchedulerResultCode.QueueFull, string.Create(CultureInfo.InvariantCulture, $"{_s.UnfinishedCount} operations are queued or running, the most this cluster takes"));
        }

        var operation = NewOperation(submit);
        Put(operation);
        Enqueue(operation);
        if (!operation.DoNotCache)
        {
            _s = _s with { InFlight = _s.InFlight.Add(key, operation.Name) };
        }

        return Submitted(operation.Name, SubmitDisposition.Queued);
    }

    private SchedulerResult RegisterWorker(RegisterWorker register)
    {
        var invalid = CheckId(register.WorkerId, "worker_id")
            ?? PlatformRules.Validate(register.Platform, "platform")
            ?? CheckAmounts(register.CpuMillis, register.MemoryBytes, "");
        if (invalid is null && register.Slots == 0)
        {
            invalid = "slots must be at least 1";
        }
        else if (invalid is null && register.Slots > _limits.WorkerSlotsMax)
        {
            invalid = string.Create(CultureInfo.InvariantCulture, $"slots {register.Slots} is above the maximum of {_limits.WorkerSlotsMax}");
        }
        else if (invalid is null && (ulong)register.Slots + register.LeaseAhead > (ulong)_limits.WorkerSlotsMax)
        {
            // Every lease held adds to the usage sums, so slots and lease-ahead together keep the bound that keeps them exact.
            invalid = string.Create(CultureInfo.InvariantCulture, $"slots {register.Slots} plus lease_ahead {register.LeaseAhead} is above the maximum of {_limits.WorkerSlotsMax}");
        }
        else if (invalid is null && register.Gpus > _limits.WorkerGpusMax)
        {
            invalid = string.Create(CultureInfo.InvariantCulture, $"gpus {register.Gpus} is above the maximum of {_limits.WorkerGpusMax}");
        }

        if (invalid is not null)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        var worker = new WorkerState
        {
            WorkerId = register.WorkerId,
            Platform = register.Platform ?? new Build.Bazel.Remote.Execution.V2.Platform(),
            Slots = register.Slots,
            CpuMillis = register.CpuMillis,
            MemoryBytes = register.MemoryBytes,
            Gpus = register.Gpus,
            RegisteredAtUnixMs = register.RegisteredAtUnixMs,
            LeaseAhead = register.LeaseAhead,
        };
        var usage = WorkerUsage.For(register.Gpus);
        if (_s.FindWorker(register.WorkerId) is { } existing)
        {
            // A quarantine outlives a restart: only an operator's release lifts it.
            worker.QuarantineReason = existing.QuarantineReason;
            worker.QuarantinedAtUnixMs = existing.QuarantinedAtUnixMs;
            var same = existing.Clone();
            same.RegisteredAtUnixMs = register.RegisteredAtUnixMs;
            same.Retiring = false;
            if (same.Equals(worker) && !existing.Retiring)
            {
                // A reconnect with the same capacity: nothing to change.
                return Ok();
            }

            var held = _s.Usage[register.WorkerId];
            var shrunk = HeldBeyond(held, worker);
            if (shrunk is not null)
            {
                return Error(SchedulerResultCode.InvalidArgument, $"worker {register.WorkerId} holds leases beyond its new capacity ({shrunk}); declare it dead before registering it smaller");
            }

            var gpus = new uint[register.Gpus];
            // Devices beyond the new count are idle (checked above).
            held.GpuMillisByDevice.CopyTo(0, gpus, 0, Math.Min(gpus.Length, held.GpuMillisByDevice.Length));
            usage = held with { GpuMillisByDevice = [.. gpus] };
        }

        _s = _s with { Workers = _s.Workers.SetItem(worker.WorkerId, worker), Usage = _s.Usage.SetItem(worker.WorkerId, usage) };
        _changed = true;
        return Ok();
    }

    private SchedulerResult RetireWorker(RetireWorker retire)
    {
        if (CheckId(retire.WorkerId, "worker_id") is { } invalid)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (_s.FindWorker(retire.WorkerId) is not { } worker)
        {
            return Error(SchedulerResultCode.NotFound, $"no worker {retire.WorkerId}");
        }

        if (_s.Usage[worker.WorkerId].Slots == 0)
        {
            RemoveWorker(worker.WorkerId);
            return Ok(new SchedulerResult { RetireWorker = new RetireWorkerOutcome { Removed = true } });
        }

        if (!worker.Retiring)
        {
            var retiring = worker.Clone();
            retiring.Retiring = true;
            _s = _s with { Workers = _s.Workers.SetItem(worker.WorkerId, retiring) };
            _changed = true;
        }

        return Ok(new SchedulerResult { RetireWorker = new RetireWorkerOutcome { Removed = false } });
    }

    private SchedulerResult AssignLeases(AssignLeases assign)
    {
        if (assign.Grants.Count == 0)
        {
            return Error(SchedulerResultCode.InvalidArgument, "assign_leases has no grants");
        }

        var outcome = new AssignLeasesOutcome();
        foreach (var grant in assign.Grants)
        {
            outcome.Grants.Add(Grant(grant, assign.AssignedAtUnixMs));
        }

        return Ok(new SchedulerResult { AssignLeases = outcome });
    }

    private GrantOutcome Grant(LeaseGrant grant, long assignedAtUnixMs)
    {
        var outcome = new GrantOutcome { OperationName = grant.OperationName, Code = SchedulerResultCode.InvalidArgument };
        if ((CheckId(grant.OperationName, "operation_name") ?? CheckId(grant.WorkerId, "worker_id")) is { } invalid)
        {
            outcome.Message = invalid;
            return outcome;
        }

        if (grant.ExpiresAtUnixMs <= assignedAtUnixMs)
        {
            outcome.Message = "expires_at_unix_ms must be after assigned_at_unix_ms";
            return outcome;
        }

        if (grant.Speculative)
        {
            return GrantClone(grant, assignedAtUnixMs);
        }

        var operation = _s.FindOperation(grant.OperationName);
        var worker = _s.FindWorker(grant.WorkerId);
        (outcome.Code, outcome.Message) = operation switch
        {
            null => (SchedulerResultCode.NotFound, "no operation " + grant.OperationName),
            _ when SchedulerState.IsFinished(operation.Phase) => (SchedulerResultCode.AlreadyFinished, $"{operation.Name} is {operation.Phase}"),
            { Phase: OperationPhase.Leased } => (SchedulerResultCode.Stale, $"{operation.Name} is already leased to {operation.Lease.WorkerId}"),
            _ when operation.Attempt != grant.Attempt => (SchedulerResultCode.Stale, Invariant($"{operation.Name} is at attempt {operation.Attempt}, not {grant.Attempt}")),
            _ when operation.NotBeforeUnixMs > assignedAtUnixMs => (SchedulerResultCode.Stale, Invariant($"{operation.Name} backs off until {operation.NotBeforeUnixMs}")),
            _ => RefuseWorker(worker, grant.WorkerId, operation),
        };
        if (outcome.Code != SchedulerResultCode.Ok || Fit(worker!, operation!, outcome, operation!.Name) is not { } devices)
        {
            return outcome;
        }

        Unqueue(operation, served: true);
        var leased = Touch(operation);
        leased.Phase = OperationPhase.Leased;
        leased.Lease = new LeaseState { WorkerId = worker!.WorkerId, LeasedAtUnixMs = assignedAtUnixMs, ExpiresAtUnixMs = grant.ExpiresAtUnixMs };
        leased.Lease.GpuDevices.Add(devices);
        leased.Attempts.Add(new AttemptRecord { Attempt = leased.Attempt, WorkerId = worker.WorkerId, LeasedAtUnixMs = assignedAtUnixMs });
        Put(leased);
        AddLease(leased);
        outcome.GpuDevices.Add(devices);
        return outcome;
    }

    private SchedulerResult Complete(CompleteOperation complete)
    {
        var invalid = CheckId(complete.OperationName, "operation_name") ?? CheckId(complete.WorkerId, "worker_id");
        if (invalid is null && complete.Attempt == 0)
        {
            invalid = "attempt must be at least 1";
        }
        else if (invalid is null && complete.Result is null)
        {
            invalid = "result is missing";
        }

        if (invalid is not null)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (FindUnfinished(complete.OperationName, out var operation) is { } notFound)
        {
            return CompareLate(complete) ?? notFound;
        }

        var ran = FindAttempt(operation, complete.Attempt);
        if (ran is null || ran.WorkerId != complete.WorkerId)
        {
            return Error(SchedulerResultCode.Stale, ran is null
                ? Invariant($"attempt {complete.Attempt} of {operation.Name} was never leased")
                : Invariant($"attempt {complete.Attempt} of {operation.Name} ran on {ran.WorkerId}, not {complete.WorkerId}"));
        }

        // The first result wins, also an earlier attempt's that arrives while a later one runs or waits: REAPI actions
        // are meant to be deterministic, and the client waits for any.
        var superseded = "";
        var supersededClone = "";
        if (operation.Phase == OperationPhase.Leased)
        {
            if (operation.Attempt != complete.Attempt)
            {
                superseded = operation.Lease.WorkerId;
            }

            RemoveLease(operation);
            if (operation.CloneLease is { } clone)
            {
                if (operation.CloneAttempt != complete.Attempt)
                {
                    supersededClone = clone.WorkerId;
                }

                RemoveUsage(clone.WorkerId, operation.Name, operation.Resources, clone.GpuDevices);
            }
        }
        else
        {
            Unqueue(operation, served: false);
        }

        var done = Touch(operation);
        foreach (var attempt in done.Attempts)
        {
            if (attempt.EndedAtUnixMs == 0 && attempt.FailureReason.Length == 0 && attempt.Attempt != complete.Attempt)
            {
                attempt.FailureReason = Invariant($"superseded by the result of attempt {complete.Attempt}");
                attempt.EndedAtUnixMs = complete.CompletedAtUnixMs;
                attempt.Superseded = true;
            }
        }

        FindAttempt(done, complete.Attempt)!.EndedAtUnixMs = complete.CompletedAtUnixMs;
        done.Phase = OperationPhase.Completed;
        done.Lease = null;
        done.CloneLease = null;
        done.CloneAttempt = 0;
        done.Result = complete.Result!;
        done.Status = complete.Status ?? new Google.Rpc.Status();
        done.FinishedAtUnixMs = complete.CompletedAtUnixMs;
        Put(done);
        MarkFinished(done);

        var cacheable = !done.DoNotCache && done.Status.Code == (int)StatusCode.OK && done.Result.ExitCode == 0;
        if (cacheable)
        {
            PutCache(done.InstanceName, done.ActionDigest, done.Result, complete.CompletedAtUnixMs);
        }

        var nondeterministic = done.Verifies.Length > 0 && CompareVerification(done, complete);
        return Ok(new SchedulerResult
        {
            Complete = new CompleteOutcome { SupersededWorkerId = superseded, SupersededCloneWorkerId = supersededClone, Cached = cacheable, Nondeterministic = nondeterministic },
        });
    }

    private SchedulerResult CompleteBatch(CompleteBatch batch)
    {
        if (batch.Completions.Count == 0 || batch.Completions.Count > _limits.CompleteBatchMax)
        {
            return Error(SchedulerResultCode.InvalidArgument, Invariant($"a completion batch holds 1 to {_limits.CompleteBatchMax} completions, not {batch.Completions.Count}"));
        }

        // Each part is decided against the state the earlier parts left, exactly as separate entries would be, so
        // batching changes how many entries the log holds and nothing else.
        var outcome = new CompleteBatchOutcome();
        foreach (var complete in batch.Completions)
        {
            outcome.Results.Add(Complete(complete));
        }

        return Ok(new SchedulerResult { CompleteBatch = outcome });
    }

    private SchedulerResult Fail(FailOperation fail)
    {
        var invalid = CheckId(fail.OperationName, "operation_name") ?? CheckId(fail.WorkerId, "worker_id") ?? CheckReason(fail.Reason);
        if (invalid is null && fail.Attempt == 0)
        {
            invalid = "attempt must be at least 1";
        }

        if (invalid is not null)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (FindUnfinished(fail.OperationName, out var operation) is { } notFound)
        {
            return notFound;
        }

        if (operation.CloneLease is { } clone && operation.CloneAttempt == fail.Attempt && clone.WorkerId == fail.WorkerId)
        {
            EndClone(operation, fail.Reason, fail.FailedAtUnixMs);
            return Ok(new SchedulerResult { Fail = new FailOutcome { Attempt = operation.Attempt } });
        }

        if (operation.Phase != OperationPhase.Leased || operation.Attempt != fail.Attempt || operation.Lease.WorkerId != fail.WorkerId)
        {
            return Error(SchedulerResultCode.Stale, operation.Phase == OperationPhase.Leased
                ? Invariant($"{operation.Name} runs attempt {operation.Attempt} on {operation.Lease.WorkerId}, not attempt {fail.Attempt} on {fail.WorkerId}")
                : $"{operation.Name} is not leased");
        }

        var after = FailOriginal(operation, fail.Reason, fail.FailedAtUnixMs, fail.NotBeforeUnixMs);
        return Ok(new SchedulerResult
        {
            Fail = new FailOutcome { Requeued = after.Phase == OperationPhase.Queued, DeadLettered = after.Phase == OperationPhase.DeadLettered, Attempt = after.Attempt },
        });
    }

    private SchedulerResult DeadLetter(DeadLetterOperation deadLetter)
    {
        var invalid = CheckId(deadLetter.OperationName, "operation_name") ?? CheckReason(deadLetter.Reason);
        if (invalid is not null)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (FindUnfinished(deadLetter.OperationName, out var operation) is { } notFound)
        {
            return notFound;
        }

        var worker = End(operation, "dead-lettered: " + deadLetter.Reason, deadLetter.AtUnixMs, OperationPhase.DeadLettered, StatusCode.Aborted, DeadLetterMessage(operation, deadLetter.Reason));
        return Ok(new SchedulerResult { Cancel = new CancelOutcome { CancelledWorkerId = worker } });
    }

    private SchedulerResult Cancel(CancelOperation cancel)
    {
        var invalid = CheckId(cancel.OperationName, "operation_name") ?? (cancel.Reason.Length > _limits.ReasonLengthMax ? "reason is too long" : null);
        if (invalid is not null)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (FindUnfinished(cancel.OperationName, out var operation) is { } notFound)
        {
            return notFound;
        }

        var message = cancel.Reason.Length > 0 ? cancel.Reason : "Cancelled by CancelOperation.";
        var worker = End(operation, "cancelled: " + message, cancel.AtUnixMs, OperationPhase.Cancelled, StatusCode.Cancelled, message);
        return Ok(new SchedulerResult { Cancel = new CancelOutcome { CancelledWorkerId = worker } });
    }

    private SchedulerResult UpdateActionCache(UpdateActionCache update)
    {
        var invalid = Prefixed("action_digest", Digests.Validate(update.ActionDigest)) ?? CheckLength(update.InstanceName, "instance_name");
        if (invalid is null && update.Result is null)
        {
            invalid = "result is missing";
        }

        if (invalid is not null)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        PutCache(update.InstanceName, update.ActionDigest, update.Result!, update.UpdatedAtUnixMs);
        return Ok();
    }

    private SchedulerResult DeclareWorkerDead(DeclareWorkerDead dead)
    {
        var invalid = CheckId(dead.WorkerId, "worker_id") ?? CheckReason(dead.Reason);
        if (invalid is not null)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (_s.FindWorker(dead.WorkerId) is null)
        {
            return Error(SchedulerResultCode.NotFound, $"no worker {dead.WorkerId}");
        }

        var outcome = new DeclareWorkerDeadOutcome();
        var (requeued, deadLettered) = TakeLeasesOf(dead.WorkerId, $"worker {dead.WorkerId} declared dead: {dead.Reason}", dead.AtUnixMs, dead.RequeueNotBeforeUnixMs);
        outcome.Requeued.Add(requeued);
        outcome.DeadLettered.Add(deadLettered);

        RemoveWorker(dead.WorkerId);
        return Ok(new SchedulerResult { DeclareWorkerDead = outcome });
    }

    private SchedulerResult Prune(PruneOperations prune)
    {
        var pruned = 0u;
        var remaining = 0u;
        var operations = _s.Operations;
        var requests = _s.Requests;
        var finished = _s.Finished;
        foreach (var key in _s.Finished)
        {
            if (key.FinishedAtUnixMs >= prune.FinishedBeforeUnixMs)
            {
                break;
            }

            if (prune.Limit != 0 && pruned == prune.Limit)
            {
                remaining++;
                continue;
            }

            foreach (var requestId in operations[key.Name].RequestIds)
            {
                requests = requests.Remove(requestId);
            }

            operations = operations.Remove(key.Name);
            finished = finished.Remove(key);
            pruned++;
        }

        if (pruned > 0)
        {
            _s = _s with { Operations = operations, Requests = requests, Finished = finished };
            _changed = true;
        }

        PruneGraphs(prune.FinishedBeforeUnixMs);

        return Ok(new SchedulerResult { Prune = new PruneOutcome { Pruned = pruned, Remaining = remaining } });
    }

    // ---------------------------------------------------------------- transitions shared by commands

    /// <summary>Why a worker cannot take a lease of the operation, an original's or a clone's: (OK, "") when it can.</summary>
    private static (SchedulerResultCode Code, string Message) RefuseWorker(WorkerState? worker, string workerId, OperationState operation) => worker switch
    {
        null => (SchedulerResultCode.NotFound, "no worker " + workerId),
        { Retiring: true } => (SchedulerResultCode.Stale, $"worker {worker.WorkerId} is retiring"),
        _ when worker.QuarantineReason.Length > 0 => (SchedulerResultCode.Stale, $"worker {worker.WorkerId} is quarantined"),
        _ when !PlatformRules.Satisfies(worker.Platform, operation.Platform) => (SchedulerResultCode.InvalidArgument, $"worker {worker.WorkerId} does not offer the platform of {operation.Name}"),
        _ => (SchedulerResultCode.Ok, ""),
    };

    /// <summary>The GPU devices a lease of the operation takes on the worker; null, with the outcome made stale, when it has no room.</summary>
    private uint[]? Fit(WorkerState worker, OperationState operation, GrantOutcome outcome, string what)
    {
        var devices = Capacity.TryFit(worker, _s.Usage[worker.WorkerId], operation.Resources);
        if (devices is null)
        {
            outcome.Code = SchedulerResultCode.Stale;
            outcome.Message = $"worker {worker.WorkerId} has no room left for {what}";
        }

        return devices;
    }

    private OperationState NewOperation(SubmitAction submit)
    {
        var name = submit.OperationNameSeed.Length == 0
            ? Invariant($"operations/{_index}")
            : Invariant($"operations/{submit.OperationNameSeed}-{_index}");
        var operation = new OperationState
        {
            Name = name,
            CreatedIndex = _index,
            InstanceName = submit.InstanceName,
            ActionDigest = submit.ActionDigest,
            Platform = submit.Platform ?? new Build.Bazel.Remote.Execution.V2.Platform(),
            Priority = submit.Priority,
            Resources = submit.Resources ?? new ResourceRequest(),
            ToolInvocationId = submit.ToolInvocationId,
            DoNotCache = submit.DoNotCache,
            SkipCacheLookup = submit.SkipCacheLookup,
            SubmittedAtUnixMs = submit.SubmittedAtUnixMs,
            ActionClass = submit.ActionClass,
            ToolClass = submit.ToolClass,
            Verifies = submit.Verifies,
            Phase = OperationPhase.Queued,
            Attempt = 1,
            ChangedVersion = _nextVersion,
        };
        operation.RequestIds.Add(submit.RequestId);
        operation.InputHints.Add(submit.InputHints);
        _s = _s with { Requests = _s.Requests.Add(submit.RequestId, name) };
        return operation;
    }

    /// <summary>Closes the current attempt with <paramref name="reason"/>; queues the next one, or dead-letters when the budget is spent.</summary>
    private OperationState RequeueOrDeadLetter(OperationState operation, string reason, long atUnixMs, long notBeforeUnixMs)
    {
        var next = Touch(operation);
        CloseAttempt(next, reason, atUnixMs);
        next.Lease = null;
        if (FailedRuns(next) >= _limits.AttemptsMax)
        {
            next.Phase = OperationPhase.DeadLettered;
            next.Status = new Google.Rpc.Status { Code = (int)StatusCode.Aborted, Message = DeadLetterMessage(next, null) };
            next.FinishedAtUnixMs = atUnixMs;
            Put(next);
            MarkFinished(next);
            return next;
        }

        next.Attempt = NextAttempt(next);
        next.Phase = OperationPhase.Queued;
        next.NotBeforeUnixMs = notBeforeUnixMs;
        Put(next);
        Enqueue(next);
        return next;
    }

    /// <summary>Ends an unfinished operation without a result (cancel, dead-letter); returns the worker whose lease it took.</summary>
    private string End(OperationState operation, string attemptReason, long atUnixMs, OperationPhase phase, StatusCode code, string message)
    {
        var worker = "";
        if (operation.Phase == OperationPhase.Leased)
        {
            worker = operation.Lease.WorkerId;
            RemoveLease(operation);
            if (operation.CloneLease is not null)
            {
                EndClone(operation, attemptReason, atUnixMs);
                operation = _s.Operations[operation.Name];
            }
        }
        else
        {
            Unqueue(operation, served: false);
        }

        var ended = Touch(operation);
        if (worker.Length > 0)
        {
            CloseAttempt(ended, attemptReason, atUnixMs);
        }

        ended.Lease = null;
        ended.Phase = phase;
        ended.Status = new Google.Rpc.Status { Code = (int)code, Message = message };
        ended.FinishedAtUnixMs = atUnixMs;
        Put(ended);
        MarkFinished(ended);
        return worker;
    }

    private static void CloseAttempt(OperationState operation, string reason, long atUnixMs)
    {
        var attempt = FindAttempt(operation, operation.Attempt);
        if (attempt is not null)
        {
            attempt.FailureReason = reason;
            attempt.EndedAtUnixMs = atUnixMs;
        }
    }

    private static AttemptRecord? FindAttempt(OperationState operation, uint attempt)
    {
        for (var i = operation.Attempts.Count - 1; i >= 0; i--)
        {
            if (operation.Attempts[i].Attempt == attempt)
            {
                return operation.Attempts[i];
            }
        }

        return null;
    }

    private static string DeadLetterMessage(OperationState operation, string? finalReason)
    {
        var message = new StringBuilder();
        message.Append(CultureInfo.InvariantCulture, $"{operation.Name} gave up after {operation.Attempts.Count} attempt(s)");
        foreach (var attempt in operation.Attempts)
        {
            message.Append(CultureInfo.InvariantCulture, $"; attempt {attempt.Attempt} on {attempt.WorkerId}: {attempt.FailureReason}");
        }

        if (finalReason is not null)
        {
            message.Append("; ").Append(finalReason);
        }

        return message.ToString();
    }

    private SchedulerResult? FindUnfinished(string name, out OperationState operation)
    {
        operation = _s.FindOperation(name)!;
        if (operation is null)
        {
            return Error(SchedulerResultCode.NotFound, "no operation " + name);
        }

        return SchedulerState.IsFinished(operation.Phase)
            ? Error(SchedulerResultCode.AlreadyFinished, $"{name} is already {operation.Phase}")
            : null;
    }

    // ---------------------------------------------------------------- index upkeep

    private OperationState Touch(OperationState operation)
    {
        var copy = operation.Clone();
        copy.ChangedVersion = _nextVersion;
        return copy;
    }

    private void Put(OperationState operation)
    {
        _s = _s with { Operations = _s.Operations.SetItem(operation.Name, operation) };
        _changed = true;
        NoteTouched(operation);
    }

    private void Enqueue(OperationState operation)
    {
        var key = new QueueKey(PlatformRules.Key(operation.Platform), operation.Priority);
        var level = _s.Queues.GetValueOrDefault(key) ?? QueueLevel.Empty;
        _s = _s with
        {
            Queues = _s.Queues.SetItem(key, level.Add(operation.ToolInvocationId, operation.CreatedIndex, operation.Name)),
            QueuedCount = _s.QueuedCount + 1,
        };
    }

    private void Unqueue(OperationState operation, bool served)
    {
        var key = new QueueKey(PlatformRules.Key(operation.Platform), operation.Priority);
        var level = _s.Queues[key].Remove(operation.ToolInvocationId, operation.CreatedIndex, served);
        _s = _s with
        {
            Queues = level.Ring.IsEmpty ? _s.Queues.Remove(key) : _s.Queues.SetItem(key, level),
            QueuedCount = _s.QueuedCount - 1,
        };
    }

    private void AddLease(OperationState operation)
    {
        AddUsage(operation.Lease.WorkerId, operation.Name, operation.Resources, operation.Lease.GpuDevices);
        _s = _s with { LeasedCount = _s.LeasedCount + 1 };
    }

    /// <summary>Releases the original lease's capacity (a clone's stays; see <see cref="RemoveUsage"/>).</summary>
    private void RemoveLease(OperationState operation)
    {
        _s = _s with { LeasedCount = _s.LeasedCount - 1 };
        RemoveUsage(operation.Lease.WorkerId, operation.Name, operation.Resources, operation.Lease.GpuDevices);
    }

    private void AddUsage(string worker, string operationName, ResourceRequest resources, IReadOnlyList<uint> devices) =>
        _s = _s with { Usage = _s.Usage.SetItem(worker, _s.Usage[worker].Plus(operationName, resources, devices)) };

    /// <summary>Releases one lease's capacity, an original's or a clone's; a retiring worker whose last lease this was leaves.</summary>
    private void RemoveUsage(string worker, string operationName, ResourceRequest resources, IReadOnlyList<uint> devices)
    {
        var usage = _s.Usage[worker].Minus(operationName, resources, devices);
        _s = _s with { Usage = _s.Usage.SetItem(worker, usage) };
        if (usage.Slots == 0 && _s.Workers[worker].Retiring)
        {
            RemoveWorker(worker);
        }
    }

    private void RemoveWorker(string workerId)
    {
        _s = _s with { Workers = _s.Workers.Remove(workerId), Usage = _s.Usage.Remove(workerId) };
        _changed = true;
    }

    private void MarkFinished(OperationState operation)
    {
        var key = ActionKey.Of(operation.InstanceName, operation.ActionDigest);
        var inFlight = _s.InFlight.TryGetValue(key, out var name) && name == operation.Name ? _s.InFlight.Remove(key) : _s.InFlight;
        _s = _s with { InFlight = inFlight, Finished = _s.Finished.Add(new FinishedKey(operation.FinishedAtUnixMs, operation.Name)) };
    }

    private void PutCache(string instanceName, Build.Bazel.Remote.Execution.V2.Digest digest, Build.Bazel.Remote.Execution.V2.ActionResult result, long atUnixMs)
    {
        var entry = new CacheEntry { InstanceName = instanceName, ActionDigest = digest, Result = result, UpdatedAtUnixMs = atUnixMs };
        _s = _s with { Cache = _s.Cache.Put(ActionKey.Of(instanceName, digest), entry, _limits.ActionCacheEntriesMax) };
        _changed = true;
    }

    // ---------------------------------------------------------------- checks and results

    private string? CheckId(string value, string field) =>
        value.Length == 0 ? field + " is empty" : CheckLength(value, field);

    private string? CheckLength(string value, string field) =>
        value.Length > _limits.IdLengthMax ? Invariant($"{field} is {value.Length} characters long; the most is {_limits.IdLengthMax}") : null;

    private string? CheckReason(string reason) =>
        reason.Length == 0 ? "reason is empty: every attempt's reason is kept for the dead-letter record"
        : reason.Length > _limits.ReasonLengthMax ? Invariant($"reason is {reason.Length} characters long; the most is {_limits.ReasonLengthMax}")
        : null;

    private static string? CheckSeed(string seed)
    {
        if (seed.Length > SeedLengthMax)
        {
            return Invariant($"operation_name_seed is {seed.Length} characters long; the most is {SeedLengthMax}");
        }

        foreach (var c in seed)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_')
            {
                return $"operation_name_seed may hold only A-Z, a-z, 0-9, '-' and '_', not '{c}'";
            }
        }

        return null;
    }

    private string? CheckAmounts(uint cpuMillis, ulong memoryBytes, string prefix) =>
        cpuMillis > _limits.CpuMillisMax ? Invariant($"{prefix}cpu_millis {cpuMillis} is above the maximum of {_limits.CpuMillisMax}")
        : memoryBytes > _limits.MemoryBytesMax ? Invariant($"{prefix}memory_bytes {memoryBytes} is above the maximum of {_limits.MemoryBytesMax}")
        : null;

    private string? CheckInputHints(Google.Protobuf.Collections.RepeatedField<Build.Bazel.Remote.Execution.V2.Digest> hints)
    {
        if (hints.Count > _limits.InputHintsMax)
        {
            return Invariant($"input_hints: {hints.Count} digests, more than the {_limits.InputHintsMax} allowed");
        }

        foreach (var hint in hints)
        {
            if (Digests.Validate(hint) is { } problem)
            {
                return "input_hints: " + problem;
            }
        }

        return null;
    }

    private static string? CheckGpu(uint millis) =>
        GpuRequest.IsAllowed(millis) ? null : $"resources.gpu_millis: {GpuRequest.Format(millis)} GPU is not an allowed amount; allowed: {GpuRequest.AllowedValues}";

    private static string? HeldBeyond(WorkerUsage held, WorkerState worker)
    {
        if (held.Slots > Capacity.LeaseSlots(worker))
        {
            return Invariant($"{held.Slots} slots in use");
        }

        if (worker.CpuMillis > 0 && held.CpuMillis > worker.CpuMillis)
        {
            return Invariant($"{held.CpuMillis} CPU millis in use");
        }

        if (worker.MemoryBytes > 0 && held.MemoryBytes > worker.MemoryBytes)
        {
            return Invariant($"{held.MemoryBytes} bytes of memory in use");
        }

        for (var d = (int)worker.Gpus; d < held.GpuMillisByDevice.Length; d++)
        {
            if (held.GpuMillisByDevice[d] > 0)
            {
                return Invariant($"GPU device {d} in use");
            }
        }

        return null;
    }

    private static string? Prefixed(string field, string? problem) => problem is null ? null : field + ": " + problem;

    private static SchedulerResult Submitted(string name, SubmitDisposition disposition) =>
        new() { Submit = new SubmitOutcome { OperationName = name, Disposition = disposition } };

    private static SchedulerResult Ok(SchedulerResult? result = null) => result ?? new SchedulerResult();

    private static SchedulerResult UnsupportedVersion(uint version) =>
        Error(SchedulerResultCode.UnsupportedVersion, Invariant($"command version {version} is not supported here; this replica applies versions {SchedulerStateMachine.OldestCommandVersion} to {SchedulerStateMachine.CommandVersion}"));

    private static SchedulerResult Error(SchedulerResultCode code, string message) => new() { Code = code, Message = message };

    private static string Invariant(FormattableString text) => FormattableString.Invariant(text);
}
