using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Time.Testing;
using RaftHead.Protocol;
using RaftHead.Protocol.Runner;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Worker.Tests;

/// <summary>The runner reads time only through <see cref="RunnerOptions.TimeProvider"/>.</summary>
public sealed class RunnerClockTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly DateTimeOffset Start = new(2031, 5, 6, 7, 8, 9, TimeSpan.Zero);
    private readonly RunnerFixture _fixture = new();
    private readonly FakeTimeProvider _clock = new(Start);
    private ActionRunner _runner = null!;

    public async Task InitializeAsync()
    {
        await _fixture.InitializeAsync();
        _runner = new ActionRunner(
            _fixture.Store,
            new RunnerOptions { WorkDirectory = Path.Combine(_fixture.Root, "work-fake-clock"), WorkerId = "fake-clock", TimeProvider = _clock });
    }

    public async Task DisposeAsync()
    {
        await _runner.DisposeAsync();
        await _fixture.DisposeAsync();
    }

    [Fact]
    public async Task Every_metadata_timestamp_comes_from_the_injected_clock_in_order()
    {
        _clock.AutoAdvanceAmount = TimeSpan.FromMilliseconds(1); // each reading a distinct, later instant
        var result = await RunAsync(RunnerFixture.Shell("echo hi > out", "out"), timeout: null, CancellationToken.None).WaitAsync(Bound);

        Assert.Equal(0, result.Status.Code);
        var m = result.Result.ExecutionMetadata;
        Timestamp[] inOrder =
        [
            m.QueuedTimestamp,
            m.WorkerStartTimestamp,
            m.InputFetchStartTimestamp,
            m.InputFetchCompletedTimestamp,
            m.ExecutionStartTimestamp,
            m.ExecutionCompletedTimestamp,
            m.OutputUploadStartTimestamp,
            m.OutputUploadCompletedTimestamp,
            m.WorkerCompletedTimestamp,
        ];
        var instants = inOrder.Select(t => t.ToDateTimeOffset()).ToList();
        Assert.Equal(Start, instants[0]);
        for (var i = 1; i < instants.Count; i++)
        {
            Assert.True(instants[i] > instants[i - 1], $"timestamp {i} ({instants[i]:O}) is not after {instants[i - 1]:O}");
        }

        // Only the fake clock's own steps: the real minutes a run takes would show here as a larger gap.
        Assert.True(instants[^1] - instants[0] < TimeSpan.FromSeconds(1), $"{instants[^1] - instants[0]} of fake time passed");
    }

    [Fact]
    public async Task A_queued_time_given_by_the_caller_is_kept()
    {
        var queuedAt = Start - TimeSpan.FromMinutes(3);
        var result = await RunAsync(RunnerFixture.Shell("true"), timeout: null, CancellationToken.None, queuedAt).WaitAsync(Bound);
        Assert.Equal(queuedAt, result.Result.ExecutionMetadata.QueuedTimestamp.ToDateTimeOffset());
        Assert.Equal(Start, result.Result.ExecutionMetadata.WorkerStartTimestamp.ToDateTimeOffset());
    }

    [Fact]
    public async Task The_action_timeout_runs_on_the_injected_clock()
    {
        var marker = Path.Combine(_fixture.Root, "fake-clock-started");
        System.IO.Directory.CreateDirectory(marker);
        File.SetUnixFileMode(marker, (UnixFileMode)0x1FF);
        var run = RunAsync(RunnerFixture.Shell($"touch {marker}/p; sleep 300"), timeout: TimeSpan.FromHours(1), CancellationToken.None);

        var deadline = DateTime.UtcNow + Bound;
        while (!File.Exists(Path.Combine(marker, "p")))
        {
            Assert.True(DateTime.UtcNow < deadline, "the action never started");
            Assert.False(run.IsCompleted, "the action ended before it could be timed out");
            await Task.Delay(20);
        }

        // An hour of fake time, in steps, until the runner's timer (armed just after the process started) fires;
        // in real time this takes well under the action's 300 s sleep.
        while (!run.IsCompleted)
        {
            Assert.True(DateTime.UtcNow < deadline, "the fake clock never timed the action out");
            _clock.Advance(TimeSpan.FromMinutes(61));
            await Task.WhenAny(run, Task.Delay(50));
        }

        var result = await run;
        Assert.Equal((int)Grpc.Core.StatusCode.DeadlineExceeded, result.Status.Code);
        Assert.Contains("timeout of 3600 s", result.Status.Message, StringComparison.Ordinal);
    }

    private async Task<ActionRunResult> RunAsync(Command command, TimeSpan? timeout, CancellationToken cancellationToken, DateTimeOffset queuedAt = default)
    {
        var root = await new InputTree().File("keep", "").UploadAsync(_fixture.Store);
        var commandBytes = command.ToByteArray();
        var commandDigest = Digests.Compute(commandBytes);
        await _fixture.Store.PutAsync("", commandDigest, commandBytes, CancellationToken.None);
        var action = new ReapiAction { CommandDigest = commandDigest, InputRootDigest = root };
        if (timeout is { } t)
        {
            action.Timeout = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(t);
        }

        return await _runner.RunAsync(new ActionRunRequest("", Digests.ComputeOf(action), action, command) { QueuedAt = queuedAt }, cancellationToken);
    }
}
