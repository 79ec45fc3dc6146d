using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using static RaftHead.Head.Tests.Scheduling.Commands;

namespace RaftHead.Head.Tests.Scheduling;

public sealed class SubmitTests
{
    [Fact]
    public void A_submit_queues_an_operation_named_after_its_log_index()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(Register("w"));
        var result = scheduler.Ok(Submit("r1", at: 1_234));

        Assert.Equal(SubmitDisposition.Queued, result.Submit.Disposition);
        Assert.Equal("operations/2", result.Submit.OperationName);
        var operation = scheduler.Operation("operations/2");
        Assert.Equal(OperationPhase.Queued, operation.Phase);
        Assert.Equal(1u, operation.Attempt);
        Assert.Equal(1_234, operation.SubmittedAtUnixMs);
        Assert.Equal(1, scheduler.State.QueuedCount);
        Assert.Equal(operation.Name, scheduler.State.FindOperationByRequest("r1")!.Name);
    }

    [Fact]
    public void A_seed_goes_into_the_name()
    {
        var scheduler = new Scheduler();
        Assert.Equal("operations/c0ffee_1-1", scheduler.Submit(Submit("r1", seed: "c0ffee_1")));
    }

    [Fact]
    public void The_same_request_id_answers_the_same_operation_without_a_change()
    {
        var scheduler = new Scheduler();
        var first = scheduler.Submit(Submit("r1"));
        var version = scheduler.State.Version;

        var again = scheduler.Ok(Submit("r1", at: 9_999));

        Assert.Equal(SubmitDisposition.DuplicateRequest, again.Submit.Disposition);
        Assert.Equal(first, again.Submit.OperationName);
        Assert.Equal(version, scheduler.State.Version);
        Assert.Equal(1, scheduler.State.QueuedCount);
    }

    [Fact]
    public void A_request_id_reused_for_another_action_is_invalid()
    {
        var scheduler = new Scheduler();
        scheduler.Submit(Submit("r1", action: "a"));
        var message = scheduler.Refused(Submit("r1", action: "b"), SchedulerResultCode.InvalidArgument);
        Assert.Contains("r1", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Identical_actions_in_flight_share_one_operation()
    {
        var scheduler = new Scheduler();
        var first = scheduler.Submit(Submit("r1", action: "a", invocation: "x"));
        var second = scheduler.Ok(Submit("r2", action: "a", invocation: "y"));

        Assert.Equal(SubmitDisposition.Joined, second.Submit.Disposition);
        Assert.Equal(first, second.Submit.OperationName);
        Assert.Equal(["r1", "r2"], scheduler.Operation(first).RequestIds);
        Assert.Equal(1, scheduler.State.QueuedCount);
        Assert.Equal(first, scheduler.State.FindOperationByRequest("r2")!.Name);
    }

    [Fact]
    public void The_same_digest_in_another_instance_is_another_action()
    {
        var scheduler = new Scheduler();
        var first = scheduler.Submit(Submit("r1"));
        var other = Submit("r2");
        other.Submit.InstanceName = "other";
        Assert.NotEqual(first, scheduler.Submit(other));
    }

    [Fact]
    public void Do_not_cache_never_shares_an_operation_either_way()
    {
        var scheduler = new Scheduler();
        var plain = scheduler.Submit(Submit("r1"));
        var private1 = scheduler.Submit(Submit("r2", doNotCache: true));
        var private2 = scheduler.Submit(Submit("r3", doNotCache: true));
        Assert.Equal(3, new[] { plain, private1, private2 }.Distinct().Count());

        var fresh = new Scheduler();
        var privateFirst = fresh.Submit(Submit("r1", doNotCache: true));
        Assert.NotEqual(privateFirst, fresh.Submit(Submit("r2")));
    }

    [Fact]
    public void Skip_cache_lookup_still_joins_an_execution_in_flight()
    {
        var scheduler = new Scheduler();
        var first = scheduler.Submit(Submit("r1"));
        var joined = scheduler.Ok(Submit("r2", skipCacheLookup: true));
        Assert.Equal(SubmitDisposition.Joined, joined.Submit.Disposition);
        Assert.Equal(first, joined.Submit.OperationName);
    }

    [Fact]
    public void A_cached_result_answers_with_an_operation_born_completed()
    {
        var scheduler = new Scheduler();
        scheduler.Ok(CacheUpdate("a"));

        var hit = scheduler.Ok(Submit("r1", action: "a", at: 5_000));

        Assert.Equal(SubmitDisposition.Cached, hit.Submit.Disposition);
        var operation = scheduler.Operation(hit.Submit.OperationName);
        Assert.Equal(OperationPhase.Completed, operation.Phase);
        Assert.True(operation.CachedResult);
        Assert.Equal("cached a", operation.Result.StdoutRaw.ToStringUtf8());
        Assert.Equal(5_000, operation.FinishedAtUnixMs);
        Assert.Equal(0, scheduler.State.UnfinishedCount);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Skip_cache_lookup_and_do_not_cache_bypass_the_cache(bool skipCacheLookup, bool doNotCache)
    {
        var scheduler = new Scheduler();
        scheduler.Ok(CacheUpdate("a"));
        var result = scheduler.Ok(Submit("r1", action: "a", skipCacheLookup: skipCacheLookup, doNotCache: doNotCache));
        Assert.Equal(SubmitDisposition.Queued, result.Submit.Disposition);
    }

    [Fact]
    public void A_submit_beyond_the_bound_is_refused_and_changes_nothing_but_joining_still_works()
    {
        var scheduler = new Scheduler(new SchedulerLimits { UnfinishedOperationsMax = 2 });
        scheduler.Ok(Register("w", slots: 1));
        var a = scheduler.Submit(Submit("r1", action: "a"));
        scheduler.Submit(Submit("r2", action: "b"));
        scheduler.Ok(Assign(1_000, (a, "w", 1)));

        // Leased operations count too, so requeueing one can never break the bound.
        var message = scheduler.Refused(Submit("r3", action: "c"), SchedulerResultCode.QueueFull);
        Assert.Contains("2 operations", message, StringComparison.Ordinal);
        Assert.Null(scheduler.State.FindOperationByRequest("r3"));
        Assert.Equal(SubmitDisposition.Joined, scheduler.Ok(Submit("r4", action: "b")).Submit.Disposition);

        scheduler.Ok(Complete(a, "w"));
        Assert.Equal(SubmitDisposition.Queued, scheduler.Ok(Submit("r3", action: "c")).Submit.Disposition);
    }

    public static TheoryData<string, Action<SubmitAction>, string> InvalidSubmits => new()
    {
        { "empty request id", s => s.RequestId = "", "request_id is empty" },
        { "long request id", s => s.RequestId = new string('r', 257), "request_id is 257 characters" },
        { "seed with a slash", s => s.OperationNameSeed = "a/b", "operation_name_seed may hold only" },
        { "long seed", s => s.OperationNameSeed = new string('s', 65), "operation_name_seed is 65" },
        { "no digest", s => s.ActionDigest = null, "action_digest: digest is missing" },
        { "short hash", s => s.ActionDigest.Hash = "abc", "action_digest:" },
        { "upper-case hash", s => s.ActionDigest.Hash = s.ActionDigest.Hash.ToUpperInvariant(), "action_digest:" },
        { "negative size", s => s.ActionDigest.SizeBytes = -1, "must not be negative" },
        { "long invocation id", s => s.ToolInvocationId = new string('i', 257), "tool_invocation_id is 257" },
        { "long instance name", s => s.InstanceName = new string('n', 257), "instance_name is 257" },
        { "nameless property", s => s.Platform = Platform("=linux"), "platform: a property has no name" },
        { "control character", s => s.Platform = Platform("os=lin\u001fux"), "control character" },
        { "absurd cpu", s => s.Resources.CpuMillis = 2_000_000, "resources.cpu_millis 2000000 is above" },
        { "absurd memory", s => s.Resources.MemoryBytes = 1UL << 51, "resources.memory_bytes" },
        { "too many input hints", s => s.InputHints.Add(Enumerable.Range(0, 9).Select(i => RaftHead.Protocol.Digests.Compute(new[] { (byte)i }))), "input_hints: 9 digests" },
        { "bad input hint", s => s.InputHints.Add(new Build.Bazel.Remote.Execution.V2.Digest { Hash = "xyz", SizeBytes = 1 }), "input_hints:" },
    };

    [Theory]
    [MemberData(nameof(InvalidSubmits))]
    public void Invalid_submits_are_refused_naming_the_field(string _, Action<SubmitAction> spoil, string expected)
    {
        var scheduler = new Scheduler();
        var command = Submit("r1");
        spoil(command.Submit);
        var message = scheduler.Refused(command, SchedulerResultCode.InvalidArgument);
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.Empty(scheduler.State.Operations);
    }

    [Theory]
    [InlineData(50u)]
    [InlineData(150u)]
    [InlineData(950u)]
    [InlineData(1_500u)]
    [InlineData(9_000u)]
    [InlineData(16_000u)]
    public void A_gpu_amount_outside_the_rules_is_refused_naming_the_allowed_values(uint gpuMillis)
    {
        var scheduler = new Scheduler();
        var message = scheduler.Refused(Submit("r1", gpuMillis: gpuMillis), SchedulerResultCode.InvalidArgument);
        Assert.Contains(GpuRequest.AllowedValues, message, StringComparison.Ordinal);
        Assert.Contains(GpuRequest.Format(gpuMillis), message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(100u)]
    [InlineData(900u)]
    [InlineData(1_000u)]
    [InlineData(8_000u)]
    public void Allowed_gpu_amounts_are_queued(uint gpuMillis)
    {
        var scheduler = new Scheduler();
        Assert.Equal(SubmitDisposition.Queued, scheduler.Ok(Submit("r1", gpuMillis: gpuMillis)).Submit.Disposition);
    }

    [Fact]
    public void An_unknown_command_version_is_refused()
    {
        var scheduler = new Scheduler();
        var command = Submit("r1");
        command.Version = SchedulerStateMachine.CommandVersion + 1;
        Assert.Contains(FormattableString.Invariant($"version {SchedulerStateMachine.CommandVersion + 1}"), scheduler.Refused(command, SchedulerResultCode.UnsupportedVersion), StringComparison.Ordinal);
        command.Version = 0;
        scheduler.Refused(command, SchedulerResultCode.UnsupportedVersion);
    }

    [Fact]
    public void An_empty_command_is_invalid()
    {
        var scheduler = new Scheduler();
        scheduler.Refused(new SchedulerCommand { Version = SchedulerStateMachine.CommandVersion }, SchedulerResultCode.InvalidArgument);
    }

    [Fact]
    public void Bytes_that_are_no_command_are_answered_not_thrown()
    {
        var machine = new SchedulerStateMachine();
        var result = SchedulerResult.Parser.ParseFrom(machine.Apply(1, new byte[] { 0x0a, 0xff, 0xff }));
        Assert.Equal(SchedulerResultCode.InvalidArgument, result.Code);
        Assert.Equal(1, machine.Current.AppliedIndex);
        Assert.Equal(0, machine.Current.Version);
        Assert.Equal(Scheduler.WithoutAppliedIndex(new SchedulerStateMachine().Snapshot()), Scheduler.WithoutAppliedIndex(machine.Snapshot()));
    }
}
