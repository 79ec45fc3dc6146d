using Grpc.Core;
using RaftHead.Protocol.V1;
using ReapiDigest = Build.Bazel.Remote.Execution.V2.Digest;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// Speculative clones, late results compared for non-determinism, and quarantine. A clone is a second lease on a
/// leased operation, on another worker, with its own attempt number; whichever attempt's result comes first wins and
/// the other lease is taken away (its worker stops it on its next heartbeat). A clone that fails ends alone; an
/// original that fails while its clone runs hands the operation to the clone instead of requeueing it.
/// </summary>
internal sealed partial class CommandApplier
{
    private GrantOutcome GrantClone(LeaseGrant grant, long assignedAtUnixMs)
    {
        var outcome = new GrantOutcome { OperationName = grant.OperationName };
        var operation = _s.FindOperation(grant.OperationName);
        var worker = _s.FindWorker(grant.WorkerId);
        (outcome.Code, outcome.Message) = operation switch
        {
            null => (SchedulerResultCode.NotFound, "no operation " + grant.OperationName),
            _ when SchedulerState.IsFinished(operation.Phase) => (SchedulerResultCode.AlreadyFinished, $"{operation.Name} is {operation.Phase}"),
            { Phase: not OperationPhase.Leased } => (SchedulerResultCode.Stale, $"{operation.Name} is not running, so it has nothing to clone"),
            { CloneLease: not null } => (SchedulerResultCode.Stale, $"{operation.Name} already has a clone on {operation.CloneLease.WorkerId}"),
            _ when operation.Attempts.Count > operation.Attempt => (SchedulerResultCode.Stale, Invariant($"attempt {operation.Attempt} of {operation.Name} was cloned once already")),
            _ when NextAttempt(operation) != grant.Attempt => (SchedulerResultCode.Stale, Invariant($"a clone of {operation.Name} would be attempt {NextAttempt(operation)}, not {grant.Attempt}")),
            _ when worker?.WorkerId == operation.Lease.WorkerId => (SchedulerResultCode.InvalidArgument, $"{operation.Name} already runs on {worker.WorkerId}; a clone goes elsewhere"),
            _ => RefuseWorker(worker, grant.WorkerId, operation),
        };
        if (outcome.Code != SchedulerResultCode.Ok || Fit(worker!, operation!, outcome, "a clone of " + operation!.Name) is not { } devices)
        {
            return outcome;
        }

        var cloned = Touch(operation);
        cloned.CloneLease = new LeaseState { WorkerId = worker!.WorkerId, LeasedAtUnixMs = assignedAtUnixMs, ExpiresAtUnixMs = grant.ExpiresAtUnixMs };
        cloned.CloneLease.GpuDevices.Add(devices);
        cloned.CloneAttempt = grant.Attempt;
        cloned.Attempts.Add(new AttemptRecord { Attempt = grant.Attempt, WorkerId = worker.WorkerId, LeasedAtUnixMs = assignedAtUnixMs, Speculative = true });
        Put(cloned);
        AddUsage(worker.WorkerId, cloned.Name, cloned.Resources, cloned.CloneLease.GpuDevices);
        outcome.GpuDevices.Add(devices);
        return outcome;
    }

    /// <summary>
    /// A result for an operation that already completed with another attempt's result: when that attempt ran beside
    /// the winner (a clone, or an original overtaken by one), its outputs are compared with the winner's.
    /// </summary>
    private SchedulerResult? CompareLate(CompleteOperation complete)
    {
        if (_s.FindOperation(complete.OperationName) is not { Phase: OperationPhase.Completed } operation
            || FindAttempt(operation, complete.Attempt) is not { Superseded: true } late
            || late.WorkerId != complete.WorkerId)
        {
            return null;
        }

        var winner = SchedulerState.WinningAttempt(operation);
        foreach (var report in _s.Nondeterminism)
        {
            if (report.OperationName == operation.Name && report.OtherAttempt == complete.Attempt)
            {
                return Ok(new SchedulerResult { Complete = new CompleteOutcome { Late = true, Nondeterministic = true } });
            }
        }

        var differences = OutputComparison.Differences(operation.Result, complete.Result);
        if (differences.Count == 0 || winner is null)
        {
            return Ok(new SchedulerResult { Complete = new CompleteOutcome { Late = true } });
        }

        Report(operation, winner, complete, differences, verifiedBy: "");
        return Ok(new SchedulerResult { Complete = new CompleteOutcome { Late = true, Nondeterministic = true } });
    }

    /// <summary>A verification run's result against the result of the operation it verifies; true when they differ (reported).</summary>
    private bool CompareVerification(OperationState verification, CompleteOperation complete)
    {
        if (verification.Status.Code != (int)StatusCode.OK
            || _s.FindOperation(verification.Verifies) is not { Phase: OperationPhase.Completed } verified
            || SchedulerState.WinningAttempt(verified) is not { } winner)
        {
            return false;
        }

        var differences = OutputComparison.Differences(verified.Result, verification.Result);
        if (differences.Count == 0)
        {
            return false;
        }

        Report(verified, winner, complete, differences, verification.Name);
        return true;
    }

    /// <summary>Keeps a report of <paramref name="operation"/>'s winning run and another (<paramref name="other"/>) that differ; the oldest goes past the bound.</summary>
    private void Report(OperationState operation, AttemptRecord winner, CompleteOperation other, List<OutputDifference> differences, string verifiedBy)
    {
        var found = new NondeterminismReport
        {
            OperationName = operation.Name,
            InstanceName = operation.InstanceName,
            ActionDigest = operation.ActionDigest,
            ActionClass = operation.ActionClass,
            WinnerAttempt = winner.Attempt,
            WinnerWorkerId = winner.WorkerId,
            OtherAttempt = other.Attempt,
            OtherWorkerId = other.WorkerId,
            VerifiedBy = verifiedBy,
            AtUnixMs = other.CompletedAtUnixMs,
        };
        found.Differences.Add(differences);
        var reports = _s.Nondeterminism.Add(found);
        while (reports.Count > _limits.NondeterminismReportsMax)
        {
            reports = reports.RemoveAt(0);
        }

        _s = _s with { Nondeterminism = reports };
        _changed = true;
    }

    private SchedulerResult QuarantineWorker(QuarantineWorker quarantine)
    {
        var invalid = CheckId(quarantine.WorkerId, "worker_id") ?? CheckReason(quarantine.Reason);
        if (invalid is not null)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (_s.FindWorker(quarantine.WorkerId) is not { } worker)
        {
            return Error(SchedulerResultCode.NotFound, $"no worker {quarantine.WorkerId}");
        }

        if (worker.QuarantineReason.Length > 0)
        {
            return Ok();
        }

        var quarantined = worker.Clone();
        quarantined.QuarantineReason = quarantine.Reason;
        quarantined.QuarantinedAtUnixMs = quarantine.AtUnixMs;
        _s = _s with { Workers = _s.Workers.SetItem(worker.WorkerId, quarantined) };
        _changed = true;

        // Its results are not trusted: what it runs goes elsewhere, now rather than after it reports.
        TakeLeasesOf(worker.WorkerId, $"worker {worker.WorkerId} quarantined: {quarantine.Reason}", quarantine.AtUnixMs, quarantine.AtUnixMs);
        return Ok();
    }

    private SchedulerResult ReleaseWorker(ReleaseWorker release)
    {
        if (CheckId(release.WorkerId, "worker_id") is { } invalid)
        {
            return Error(SchedulerResultCode.InvalidArgument, invalid);
        }

        if (_s.FindWorker(release.WorkerId) is not { } worker)
        {
            return Error(SchedulerResultCode.NotFound, $"no worker {release.WorkerId}");
        }

        if (worker.QuarantineReason.Length > 0)
        {
            var released = worker.Clone();
            released.QuarantineReason = "";
            released.QuarantinedAtUnixMs = 0;
            _s = _s with { Workers = _s.Workers.SetItem(worker.WorkerId, released) };
            _changed = true;
        }

        return Ok();
    }

    /// <summary>
    /// Takes every lease a worker holds: an original requeues (or dead-letters, or hands over to its clone), a clone
    /// just ends. Returns the operations requeued and dead-lettered.
    /// </summary>
    private (List<string> Requeued, List<string> DeadLettered) TakeLeasesOf(string workerId, string reason, long atUnixMs, long notBeforeUnixMs)
    {
        var requeued = new List<string>();
        var deadLettered = new List<string>();
        foreach (var operation in _s.LeasesOf(workerId))
        {
            if (operation.CloneLease?.WorkerId == workerId)
            {
                EndClone(operation, reason, atUnixMs);
                continue;
            }

            var after = FailOriginal(operation, reason, atUnixMs, notBeforeUnixMs);
            if (after.Phase == OperationPhase.Queued)
            {
                requeued.Add(after.Name);
            }
            else if (after.Phase == OperationPhase.DeadLettered)
            {
                deadLettered.Add(after.Name);
            }
        }

        return (requeued, deadLettered);
    }

    /// <summary>The original's run failed: its clone carries on as the operation's lease, or the operation requeues.</summary>
    private OperationState FailOriginal(OperationState operation, string reason, long atUnixMs, long notBeforeUnixMs)
    {
        if (operation.CloneLease is null)
        {
            RemoveLease(operation);
            return RequeueOrDeadLetter(operation, reason, atUnixMs, notBeforeUnixMs);
        }

        // Still leased, now on the clone's worker: the original's capacity goes, the count of leased operations stays.
        RemoveUsage(operation.Lease.WorkerId, operation.Name, operation.Resources, operation.Lease.GpuDevices);

        var promoted = Touch(operation);
        CloseAttempt(promoted, reason, atUnixMs);
        promoted.Lease = promoted.CloneLease;
        promoted.Attempt = promoted.CloneAttempt;
        promoted.CloneLease = null;
        promoted.CloneAttempt = 0;
        Put(promoted);
        return promoted;
    }

    /// <summary>A clone's run ended without a result: the original runs on alone.</summary>
    private void EndClone(OperationState operation, string reason, long atUnixMs)
    {
        var clone = operation.CloneLease;
        RemoveUsage(clone.WorkerId, operation.Name, operation.Resources, clone.GpuDevices);
        var ended = Touch(operation);
        if (FindAttempt(ended, ended.CloneAttempt) is { } attempt)
        {
            attempt.FailureReason = reason;
            attempt.EndedAtUnixMs = atUnixMs;
        }

        ended.CloneLease = null;
        ended.CloneAttempt = 0;
        Put(ended);
    }

    /// <summary>The next attempt number: attempts are numbered in the order they started, a clone's among them.</summary>
    private static uint NextAttempt(OperationState operation) => (uint)operation.Attempts.Count + 1;

    /// <summary>Runs that ended with no result count against the retry budget, a clone's too.</summary>
    private static int FailedRuns(OperationState operation)
    {
        var failed = 0;
        foreach (var attempt in operation.Attempts)
        {
            if (attempt.FailureReason.Length > 0 && !attempt.Superseded)
            {
                failed++;
            }
        }

        return failed;
    }
}

/// <summary>What differs between two results of one action: outputs by path, and the exit code.</summary>
internal static class OutputComparison
{
    public const string ExitCodePath = "(exit code)";

    public static List<OutputDifference> Differences(Build.Bazel.Remote.Execution.V2.ActionResult winner, Build.Bazel.Remote.Execution.V2.ActionResult other)
    {
        var outputs = new SortedDictionary<string, (string Winner, string Other)>(StringComparer.Ordinal);
        foreach (var file in winner.OutputFiles)
        {
            outputs[file.Path] = (Text(file.Digest), "");
        }

        foreach (var directory in winner.OutputDirectories)
        {
            outputs[directory.Path] = (Text(directory.TreeDigest), "");
        }

        foreach (var link in winner.OutputSymlinks)
        {
            outputs[link.Path] = ("-> " + link.Target, "");
        }

        foreach (var file in other.OutputFiles)
        {
            outputs[file.Path] = (outputs.GetValueOrDefault(file.Path).Winner ?? "", Text(file.Digest));
        }

        foreach (var directory in other.OutputDirectories)
        {
            outputs[directory.Path] = (outputs.GetValueOrDefault(directory.Path).Winner ?? "", Text(directory.TreeDigest));
        }

        foreach (var link in other.OutputSymlinks)
        {
            outputs[link.Path] = (outputs.GetValueOrDefault(link.Path).Winner ?? "", "-> " + link.Target);
        }

        var differences = new List<OutputDifference>();
        if (winner.ExitCode != other.ExitCode)
        {
            differences.Add(new OutputDifference
            {
                Path = ExitCodePath,
                Winner = winner.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Other = other.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
        }

        foreach (var (path, (first, second)) in outputs)
        {
            if (first != second)
            {
                differences.Add(new OutputDifference { Path = path, Winner = first, Other = second });
            }
        }

        return differences;
    }

    private static string Text(ReapiDigest? digest) => digest is null ? "" : $"{digest.Hash}/{digest.SizeBytes}";
}
