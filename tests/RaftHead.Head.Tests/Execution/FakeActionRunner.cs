using System.Threading.Channels;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol.Runner;

namespace RaftHead.Head.Tests.Execution;

/// <summary>
/// A runner the test drives: every run is announced on <see cref="NextRunAsync"/> and finishes only when the test
/// completes it (or its token is cancelled, which it records). No sleeps: tests wait on these gates, bounded.
/// </summary>
internal sealed class FakeActionRunner : IActionRunner
{
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(15);

    private readonly Channel<Run> _started = Channel.CreateUnbounded<Run>();
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>When set, runs throw this instead of waiting (a runner bug, from the scheduler's point of view).</summary>
    public Exception? Throw { get; set; }

    public async Task<ActionRunResult> RunAsync(ActionRunRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        var run = new Run(request, cancellationToken);
        _started.Writer.TryWrite(run);
        if (Throw is { } e)
        {
            throw e;
        }

        try
        {
            return await run.Outcome.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            run.Cancelled.TrySetResult();
            throw;
        }
    }

    public async Task<Run> NextRunAsync() => await _started.Reader.ReadAsync().AsTask().WaitAsync(WaitLimit);

    public bool HasPendingStart => _started.Reader.TryPeek(out _);

    internal sealed class Run(ActionRunRequest request, CancellationToken token)
    {
        public ActionRunRequest Request { get; } = request;

        public CancellationToken Token { get; } = token;

        public TaskCompletionSource<ActionRunResult> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Complete(int exitCode, string stdout = "") =>
            Outcome.SetResult(new ActionRunResult(
                new ActionResult { ExitCode = exitCode, StdoutRaw = Google.Protobuf.ByteString.CopyFromUtf8(stdout) },
                new Google.Rpc.Status()));
    }
}
