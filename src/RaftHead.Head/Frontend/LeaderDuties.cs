using Grpc.Core;
using Microsoft.Extensions.Logging;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;

namespace RaftHead.Head.Frontend;

/// <summary>
/// What only the leader decides, from the applied state, its clock and its soft state: placement of queued work
/// (<see cref="Placement.Plan"/>, proposed as one AssignLeases), speculative clones of stragglers onto idle slots
/// (<see cref="Speculation.Plan"/>, with running-time statistics rebuilt from the retained completions in each term),
/// workers silent past the heartbeat TTL declared dead,
/// leases past their hard deadline failed, and finished operations past retention pruned. A pass runs after every
/// apply and at least every <see cref="FrontendOptions.DutiesIntervalMs"/>; on a follower it does nothing. A new
/// leader judges no silence for one TTL: the heartbeats it has not heard were sent to the old leader.
/// </summary>
public sealed class LeaderDuties
{
    private readonly SchedulerFrontend _frontend;
    private readonly ILogger _logger;
    private readonly PlacementCache _placement = new();
    private readonly RunningTimes _times = new();
    private readonly List<OperationState> _finished = [];
    private Task? _loop;
    private long _leaderTerm = -1;
    private long _leaderSinceUnixMs;
    private long _plannedVersion = -1;
    private long _plannedAtUnixMs = long.MinValue / 2;
    private long _judgedAtUnixMs = long.MinValue / 2;
    private long _speculatedAtUnixMs = long.MinValue / 2;

    internal LeaderDuties(SchedulerFrontend frontend, ILogger logger)
    {
        _frontend = frontend;
        _logger = logger;
    }

    /// <summary>Passes run so far (each one a look at the state; most propose nothing).</summary>
    public long Passes { get; private set; }

    internal void Start(CancellationToken stopping)
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException("The duties loop is already started.");
        }

        _loop = Task.Run(() => RunAsync(stopping), CancellationToken.None);
    }

    internal async Task StopAsync()
    {
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var interval = TimeSpan.FromMilliseconds(_frontend.Options.DutiesIntervalMs);
        while (!stopping.IsCancellationRequested)
        {
            var changed = _frontend.Log.Changes.Next;
            try
            {
                await RunOnceAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.ResourceExhausted)
            {
                // Leadership moved or the log is busy: the next pass looks again.
                _logger.LogDebug("Leader duties deferred: {Reason}", e.Status.Detail);
            }
            catch (Exception e)
            {
                // A bug in one pass must not end the duties for good: the cluster would stop placing work.
                _logger.LogError(e, "A leader duties pass failed");
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

    /// <summary>One pass of the duties; public so a host or a test can drive it without the loop.</summary>
    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var leader = _frontend.Log.Leader;
        if (!leader.IsLeader)
        {
            _leaderTerm = -1;
            return;
        }

        Passes++;
        var now = _frontend.NowUnixMs;
        if (leader.Term != _leaderTerm)
        {
            _leaderTerm = leader.Term;
            _leaderSinceUnixMs = now;
            _plannedVersion = -1;
            _judgedAtUnixMs = long.MinValue / 2;
            _speculatedAtUnixMs = long.MinValue / 2;
            _times.Reset();
            _logger.LogInformation("Leading in term {Term}: worker silence is judged from {GraceEndUnixMs}", leader.Term, now + _frontend.Options.HeartbeatTtlMs);
        }

        // Scans of every worker and lease: paced by the clock, not by the apply rate.
        if (now - _judgedAtUnixMs >= _frontend.Options.DutiesIntervalMs)
        {
            _judgedAtUnixMs = now;
            await DeclareSilentWorkersDeadAsync(now, cancellationToken).ConfigureAwait(false);
            await FailExpiredLeasesAsync(now, cancellationToken).ConfigureAwait(false);
        }

        await PlaceAsync(now, cancellationToken).ConfigureAwait(false);
        await SpeculateAsync(now, cancellationToken).ConfigureAwait(false);
        await PruneAsync(now, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Speculative clones of stragglers onto idle slots (<see cref="Speculation.Plan"/>).</summary>
    private async Task SpeculateAsync(long now, CancellationToken cancellationToken)
    {
        // Paced by the clock alone: stragglers are a matter of seconds, and a scan of every lease after every apply would
        // cost the busiest clusters the most.
        if (now - _speculatedAtUnixMs < _frontend.Options.DutiesIntervalMs)
        {
            return;
        }

        var state = _frontend.Log.Current;
        _speculatedAtUnixMs = now;
        _finished.Clear();
        _times.Update(state, _finished);
        var options = _frontend.Options;
        await VerifyAsync(now, cancellationToken).ConfigureAwait(false);
        var grants = Speculation.Plan(state, now, _times, options.SpeculationFor, options.LeaseTtlMs, options.GrantsPerPlanMax);
        if (grants.Count == 0)
        {
            return;
        }

        var assign = new AssignLeases { AssignedAtUnixMs = now, Grants = { grants } };
        var result = await _frontend.ProposeAsync(new SchedulerCommand { AssignLeases = assign }, cancellationToken, refusalIsAnswer: true).ConfigureAwait(false);
        for (var i = 0; i < grants.Count && i < result.AssignLeases?.Grants.Count; i++)
        {
            if (result.AssignLeases.Grants[i].Code == SchedulerResultCode.Ok)
            {
                var operation = state.Operations[grants[i].OperationName];
                _logger.LogInformation(
                    "Speculative clone of {Operation} on {WorkerId} (attempt {Attempt}): attempt {Original} has run {RunningMs} ms on {OriginalWorkerId}",
                    operation.Name, grants[i].WorkerId, grants[i].Attempt, operation.Attempt, now - operation.Lease.LeasedAtUnixMs, operation.Lease.WorkerId);
            }
        }
    }

    private async Task DeclareSilentWorkersDeadAsync(long now, CancellationToken cancellationToken)
    {
        var ttl = _frontend.Options.HeartbeatTtlMs;
        if (now - _leaderSinceUnixMs < ttl)
        {
            return;
        }

        foreach (var worker in _frontend.Log.Current.Workers.Values)
        {
            // Never heard since this replica leads: silent since it took over (the grace above has passed).
            var seen = Math.Max(_frontend.Workers.LastSeenUnixMs(worker.WorkerId) ?? _leaderSinceUnixMs, _leaderSinceUnixMs);
            if (now - seen <= ttl)
            {
                continue;
            }

            var dead = new DeclareWorkerDead
            {
                WorkerId = worker.WorkerId,
                Reason = $"no heartbeat for {now - seen} ms (TTL {ttl} ms)",
                AtUnixMs = now,
                RequeueNotBeforeUnixMs = _frontend.BackoffUntil(now, 1),
            };
            var result = await _frontend.ProposeAsync(new SchedulerCommand { DeclareWorkerDead = dead }, cancellationToken, refusalIsAnswer: true).ConfigureAwait(false);
            _frontend.Workers.Forget(worker.WorkerId);
            if (result.Code == SchedulerResultCode.Ok)
            {
                _logger.LogWarning(
                    "Worker {WorkerId} declared dead after {SilenceMs} ms of silence; {Requeued} operations requeued, {DeadLettered} dead-lettered",
                    worker.WorkerId, now - seen, result.DeclareWorkerDead.Requeued.Count, result.DeclareWorkerDead.DeadLettered.Count);
            }
        }
    }

    private async Task FailExpiredLeasesAsync(long now, CancellationToken cancellationToken)
    {
        foreach (var (operation, attempt, lease) in _frontend.Log.Current.ExpiredLeases(now))
        {
            var fail = new FailOperation
            {
                OperationName = operation.Name,
                WorkerId = lease.WorkerId,
                Attempt = attempt,
                Reason = "lease expired",
                FailedAtUnixMs = now,
                NotBeforeUnixMs = _frontend.BackoffUntil(now, attempt),
            };
            await _frontend.ProposeAsync(new SchedulerCommand { Fail = fail }, cancellationToken, refusalIsAnswer: true).ConfigureAwait(false);
            _logger.LogWarning("Operation {Operation} lease on {WorkerId} expired (attempt {Attempt})", operation.Name, lease.WorkerId, attempt);
        }
    }

    private async Task PlaceAsync(long now, CancellationToken cancellationToken)
    {
        var state = _frontend.Log.Current;
        if (state.QueuedCount == 0 || state.Workers.Count == 0)
        {
            return;
        }

        // Re-plan after any change, and as time passes (backed-off work becomes placeable without a change).
        if (state.Version == _plannedVersion && now - _plannedAtUnixMs < _frontend.Options.DutiesIntervalMs)
        {
            return;
        }

        _plannedVersion = state.Version;
        _plannedAtUnixMs = now;
        var grants = Placement.Plan(state, now, _frontend.Options.LeaseTtlMs, _frontend.Options.GrantsPerPlanMax, LocalityScores.For(_frontend.Workers.Directory), _placement);
        if (grants.Count == 0)
        {
            return;
        }

        var assign = new AssignLeases { AssignedAtUnixMs = now, Grants = { grants } };
        await _frontend.ProposeAsync(new SchedulerCommand { AssignLeases = assign }, cancellationToken, refusalIsAnswer: true).ConfigureAwait(false);
    }

    /// <summary>Verification runs of a sample of the operations that just completed (<see cref="Speculation.Verification"/>).</summary>
    private async Task VerifyAsync(long now, CancellationToken cancellationToken)
    {
        var options = _frontend.Options;
        var state = _frontend.Log.Current;
        foreach (var operation in _finished)
        {
            // A new leader reads every retained completion into its statistics; it verifies only what finished since it
            // leads (what finished before was the old leader's to sample), and nothing verified already.
            if (operation.FinishedAtUnixMs < _leaderSinceUnixMs - options.DutiesIntervalMs
                || Speculation.Verification(operation, options.SpeculationFor(operation.InstanceName), options.OperationNameSeed, now) is not { } submit
                || state.FindOperationByRequest(submit.RequestId) is not null)
            {
                continue;
            }

            var result = await _frontend.ProposeAsync(new SchedulerCommand { Submit = submit }, cancellationToken, refusalIsAnswer: true).ConfigureAwait(false);
            _logger.LogInformation("Verification run of {Operation}: {Outcome}", operation.Name, result.Code == SchedulerResultCode.Ok ? result.Submit.OperationName : result.Message);
        }
    }

    private async Task PruneAsync(long now, CancellationToken cancellationToken)
    {
        var cut = now - _frontend.Options.FinishedRetentionMs;
        var finished = _frontend.Log.Current.Finished;
        if (finished.Count == 0 || finished.Min.FinishedAtUnixMs >= cut)
        {
            return;
        }

        var prune = new PruneOperations { FinishedBeforeUnixMs = cut, Limit = _frontend.Options.PruneBatchMax };
        var result = await _frontend.ProposeAsync(new SchedulerCommand { Prune = prune }, cancellationToken, refusalIsAnswer: true).ConfigureAwait(false);
        _logger.LogInformation("Pruned {Pruned} finished operations ({Remaining} older ones remain)", result.Prune.Pruned, result.Prune.Remaining);
    }
}
