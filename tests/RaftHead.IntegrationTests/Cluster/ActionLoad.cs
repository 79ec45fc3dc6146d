using System.Collections.Concurrent;
using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Google.Protobuf;
using Grpc.Core;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.IntegrationTests.Cluster;

/// <summary>
/// Distinct small actions (<c>echo N &gt; out.txt</c>, each also appending N to a run log outside the sandbox, so a
/// second run of one action shows) uploaded and executed by concurrent clients spread over the heads. A client keeps
/// its head until a call fails as unavailable, then moves to the next head: it waits on the operation it was given
/// (WaitExecution) if it has its name, else it executes again, as Bazel does.
/// </summary>
public sealed class ActionLoad
{
    /// <summary>Attempts of one action's upload or execution over all heads before the load gives up on it.</summary>
    private const int AttemptsMax = 30;

    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(30);

    private readonly IReadOnlyList<string> _heads;
    private readonly string _runLog;
    private readonly GrpcChannels _channels;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ConcurrentQueue<(TimeSpan At, string What)> _failures = new();
    private readonly ConcurrentQueue<(TimeSpan Started, TimeSpan Ended)> _successes = new();
    private int _completed;
    private int _threshold = int.MaxValue;
    private TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="runLog">A file every action appends its number to; its directory must be writable by the run-as user.</param>
    public ActionLoad(IReadOnlyList<string> heads, string runLog, GrpcChannels channels)
    {
        _heads = heads;
        _runLog = runLog;
        _channels = channels;
    }

    public int Completed => Volatile.Read(ref _completed);

    /// <summary>Failed attempts (calls that had to be retried), with when and why.</summary>
    public IReadOnlyCollection<(TimeSpan At, string What)> Failures => _failures;

    /// <summary>When each action's successful attempt started and ended, on the load's clock.</summary>
    public IReadOnlyCollection<(TimeSpan Started, TimeSpan Ended)> Successes => _successes;

    public TimeSpan Now => _clock.Elapsed;

    /// <summary>Completes once <paramref name="count"/> actions have completed (call before <see cref="RunAsync"/>).</summary>
    public Task WhenCompleted(int count)
    {
        _threshold = count;
        _reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _reached.Task;
    }

    /// <summary>Runs actions 0..count-1, client c taking those with n % clients == c and starting on head c % heads.</summary>
    public async Task<Outcome[]> RunAsync(int count, int clients, CancellationToken cancellationToken)
    {
        var outcomes = new Outcome[count];
        var tasks = new List<Task>();
        for (var c = 0; c < clients; c++)
        {
            var client = c;
            tasks.Add(Task.Run(
                async () =>
                {
                    var head = client % _heads.Count;
                    for (var n = client; n < count; n += clients)
                    {
                        (outcomes[n], head) = await RunOneAsync(n, head, cancellationToken);
                        if (Interlocked.Increment(ref _completed) >= _threshold)
                        {
                            _reached.TrySetResult();
                        }
                    }
                },
                cancellationToken));
        }

        await Task.WhenAll(tasks);
        return outcomes;
    }

    public ReapiClients Clients(string head) => new(_channels.For(head));

    /// <summary>The shell command of action <paramref name="n"/>: its output, and one line in the run log per run.</summary>
    public string Script(int n) => $"echo {n} > out.txt && echo {n} >> {_runLog}";

    private async Task<(Outcome Outcome, int Head)> RunOneAsync(int n, int head, CancellationToken cancellationToken)
    {
        var command = new Command { Arguments = { "/bin/sh", "-c", Script(n) }, OutputPaths = { "out.txt" } };
        var root = new ReapiDirectory();
        var commandBytes = command.ToByteString();
        var rootBytes = root.ToByteString();
        var action = new ReapiAction { CommandDigest = Digests.Compute(commandBytes.Span), InputRootDigest = Digests.Compute(rootBytes.Span) };
        var actionBytes = action.ToByteString();
        var actionDigest = Digests.Compute(actionBytes.Span);
        var upload = new BatchUpdateBlobsRequest
        {
            Requests =
            {
                new BatchUpdateBlobsRequest.Types.Request { Digest = action.CommandDigest, Data = commandBytes },
                new BatchUpdateBlobsRequest.Types.Request { Digest = action.InputRootDigest, Data = rootBytes },
                new BatchUpdateBlobsRequest.Types.Request { Digest = actionDigest, Data = actionBytes },
            },
        };

        var retries = 0;
        var uploaded = false;
        string? operationName = null;
        var operationNames = new List<string>();
        for (var attempt = 0; attempt < AttemptsMax; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var clients = Clients(_heads[head]);
            var attemptStarted = _clock.Elapsed;
            using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attemptCts.CancelAfter(AttemptTimeout);
            try
            {
                if (!uploaded)
                {
                    var response = await clients.Cas.BatchUpdateBlobsAsync(upload, cancellationToken: attemptCts.Token);
                    foreach (var r in response.Responses)
                    {
                        if (r.Status.Code != 0)
                        {
                            throw new RpcException(new Status((StatusCode)r.Status.Code, $"upload of {r.Digest.Hash}: {r.Status.Message}"));
                        }
                    }

                    uploaded = true;
                }

                using var call = operationName is null
                    ? clients.Execution.Execute(new ExecuteRequest { ActionDigest = actionDigest }, cancellationToken: attemptCts.Token)
                    : clients.Execution.WaitExecution(new WaitExecutionRequest { Name = operationName }, cancellationToken: attemptCts.Token);
                Operation? last = null;
                while (await call.ResponseStream.MoveNext(attemptCts.Token))
                {
                    last = call.ResponseStream.Current;
                    if (operationName != last.Name)
                    {
                        operationName = last.Name;
                        operationNames.Add(last.Name);
                    }

                    if (last.Done)
                    {
                        break;
                    }
                }

                if (last is not { Done: true })
                {
                    throw new RpcException(new Status(StatusCode.Unavailable, "the operation stream ended before the operation was done"));
                }

                if (last.ResultCase == Operation.ResultOneofCase.Error)
                {
                    throw new RpcException(new Status((StatusCode)last.Error.Code, $"operation {last.Name} failed: {last.Error.Message}"));
                }

                var executed = last.Response.Unpack<ExecuteResponse>();
                if (executed.Status is { Code: not 0 } status)
                {
                    // The operation ended without a result; a retry must start a new one.
                    operationName = null;
                    throw new RpcException(new Status((StatusCode)status.Code, $"operation {last.Name} ended with {status.Message}"));
                }

                _successes.Enqueue((attemptStarted, _clock.Elapsed));
                return (new Outcome(n, actionDigest, executed, operationNames, retries, _heads[head]), head);
            }
            catch (Exception e) when (Retryable(e, cancellationToken))
            {
                retries++;
                _failures.Enqueue((_clock.Elapsed, $"action {n} on {_heads[head]} ({(operationName is null ? "execute" : "wait")}): {Describe(e)}"));
                head = (head + 1) % _heads.Count;

                // Do not spin through the heads while an election is under way.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(100 * (1 << Math.Min(retries, 4)), 1_000)), cancellationToken);
            }
        }

        throw new InvalidOperationException($"action {n} did not complete within {AttemptsMax} attempts");
    }

    /// <summary>What Bazel retries: the head is unreachable or gave up on the call; not a bad request or a failed action.</summary>
    private static bool Retryable(Exception e, CancellationToken cancellationToken) => e switch
    {
        RpcException r => r.StatusCode is StatusCode.Unavailable or StatusCode.Unknown or StatusCode.Internal or StatusCode.Aborted
            or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted || (r.StatusCode == StatusCode.Cancelled && !cancellationToken.IsCancellationRequested),
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    private static string Describe(Exception e) => e is RpcException r ? $"{r.StatusCode}: {r.Status.Detail}" : $"{e.GetType().Name}: {e.Message}";

    /// <summary>One action's end: its result and every operation name a head gave its client for it.</summary>
    public sealed record Outcome(int N, Digest ActionDigest, ExecuteResponse Response, IReadOnlyList<string> OperationNames, int Retries, string Head);
}
