using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Grpc.Core;
using RaftHead.Bench.Storage;
using RaftHead.Protocol.Client;

namespace RaftHead.Bench.Cluster;

/// <summary>The figures of one case: calls, wall seconds, latency percentiles (microseconds).</summary>
internal sealed record LoadRound(string Case, int Clients, int Calls, double Seconds, double P50Us, double P99Us)
{
    /// <summary>Calls that failed (counted, not timed); the last failure in words.</summary>
    public int Errors { get; init; }

    public string? LastError { get; init; }

    /// <summary>Median of each of <see cref="ExecuteLoad.StageNames"/> (microseconds) over the fresh actions run; null for cache hits.</summary>
    public double[]? StageP50Us { get; init; }

    public double PerSecond => Calls / Seconds;
}

/// <summary>Hands out each pre-uploaded action once.</summary>
internal sealed class ActionQueue(Digest[] actions)
{
    private long _next = -1;

    public int Left => (int)Math.Max(0, actions.Length - Interlocked.Read(ref _next) - 1);

    public bool TryNext(out Digest action)
    {
        var i = Interlocked.Increment(ref _next);
        action = i < actions.Length ? actions[i] : null!;
        return i < actions.Length;
    }
}

/// <summary>Clients run Execute back to back until the case's time or calls are spent.</summary>
internal static class ExecuteLoad
{
    /// <summary>Where one fresh Execute's time goes, from ExecutedActionMetadata and the client's clock (one machine, one clock).</summary>
    public static readonly string[] StageNames =
    [
        "client send → queued_timestamp (head reads Action and Command, the submit is committed)",
        "queued → worker_start (placement, lease committed and delivered, worker fetches Action and Command)",
        "worker_start → execution_start (sandbox, empty input root)",
        "execution_start → execution_completed (wrapper chain + /bin/true)",
        "execution_completed → worker_completed (stdout/stderr upload)",
        "worker_completed → done at the client (Complete committed, action cache, stream write)",
    ];

    public static async Task<LoadRound> RunAsync(string name, ReapiClients reapi, Func<Digest?> next, bool expectCached, int clients, TimeSpan duration, int callsMax, CancellationToken cancellationToken)
    {
        long started = 0;
        var errors = 0;
        string? lastError = null;
        var perClient = new List<long>[clients];
        var stages = new List<double[]>();
        var clock = Stopwatch.StartNew();
        var tasks = new Task[clients];
        for (var c = 0; c < clients; c++)
        {
            var samples = perClient[c] = new List<long>(Math.Min(callsMax, 4_096));
            tasks[c] = Task.Run(
                async () =>
                {
                    while (clock.Elapsed < duration && Interlocked.Increment(ref started) <= callsMax && next() is { } action)
                    {
                        var before = Stopwatch.GetTimestamp();
                        try
                        {
                            var sent = DateTime.UtcNow;
                            var response = await OnceAsync(reapi, action, expectCached, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
                            samples.Add(Stopwatch.GetTimestamp() - before);
                            // Simulated workers report no metadata: nothing to split.
                            if (!expectCached && response.Result.ExecutionMetadata?.ExecutionStartTimestamp is not null)
                            {
                                var split = Split(response, sent, DateTime.UtcNow);
                                lock (stages)
                                {
                                    stages.Add(split);
                                }
                            }
                        }
                        catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
                        {
                            // A leader change under load: counted and reported; the client goes on with its next action.
                            Interlocked.Increment(ref errors);
                            lastError = e.Status.ToString();
                        }
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var all = perClient.SelectMany(s => s).ToList();
        var (p50, p99) = Latencies.Percentiles(all);
        var round = new LoadRound(name, clients, all.Count, seconds, p50, p99) { Errors = errors, LastError = lastError, StageP50Us = expectCached ? null : Medians(stages) };
        Console.Error.WriteLine(FormattableString.Invariant($"cluster: {name,-44} {clients,2} client(s): {round.Calls,5} in {seconds:0.0} s, p50 {p50,8:0} us  p99 {p99,8:0} us  {round.PerSecond,6:0}/s  {errors} error(s) {lastError}"));
        return round;
    }

    /// <summary>One Execute to its done Operation; throws unless the action ran (or, for a cache hit, was answered from the cache) with exit code 0.</summary>
    public static async Task<ExecuteResponse> OnceAsync(ReapiClients reapi, Digest action, bool expectCached, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var request = new ExecuteRequest { ActionDigest = action, SkipCacheLookup = !expectCached };
        using var call = reapi.Execution.Execute(request, deadline: DateTime.UtcNow + deadline, cancellationToken: cancellationToken);
        Operation? done = null;
        for (var messages = 0; messages < 1_000 && done is null; messages++)
        {
            if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException("Benchmark self-check failed: the Execute stream ended before the operation was done.");
            }

            if (call.ResponseStream.Current.Done)
            {
                done = call.ResponseStream.Current;
            }
        }

        if (done is null || done.ResultCase != Operation.ResultOneofCase.Response)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: the operation ended with error {done?.Error?.Code}: {done?.Error?.Message}");
        }

        var response = done.Response.Unpack<ExecuteResponse>();
        if (response.Status is { Code: not 0 } || response.Result.ExitCode != 0 || response.CachedResult != expectCached)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: Execute answered status {response.Status?.Code} '{response.Status?.Message}', exit code {response.Result?.ExitCode}, cached {response.CachedResult} (expected {expectCached}).");
        }

        return response;
    }

    private static double[] Split(ExecuteResponse response, DateTime sent, DateTime received)
    {
        var m = response.Result.ExecutionMetadata;
        static double Us(DateTime from, DateTime to) => (to - from).Ticks / 10.0;
        var queued = m.QueuedTimestamp.ToDateTime();
        var workerStart = m.WorkerStartTimestamp.ToDateTime();
        var execStart = m.ExecutionStartTimestamp.ToDateTime();
        var execDone = m.ExecutionCompletedTimestamp.ToDateTime();
        var workerDone = m.WorkerCompletedTimestamp.ToDateTime();
        return [Us(sent, queued), Us(queued, workerStart), Us(workerStart, execStart), Us(execStart, execDone), Us(execDone, workerDone), Us(workerDone, received)];
    }

    private static double[]? Medians(List<double[]> samples)
    {
        if (samples.Count == 0)
        {
            return null;
        }

        var medians = new double[StageNames.Length];
        var column = new double[samples.Count];
        for (var s = 0; s < medians.Length; s++)
        {
            for (var i = 0; i < samples.Count; i++)
            {
                column[i] = samples[i][s];
            }

            Array.Sort(column);
            medians[s] = column[(column.Length - 1) / 2];
        }

        return medians;
    }

    /// <summary>Submits one Execute and leaves once it is accepted (the first Operation); the operation stays queued.</summary>
    public static async Task<StatusCode> SubmitOnlyAsync(ReapiClients reapi, Digest action, CancellationToken cancellationToken)
    {
        try
        {
            using var call = reapi.Execution.Execute(new ExecuteRequest { ActionDigest = action, SkipCacheLookup = true }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
            if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException("Benchmark self-check failed: Execute answered no Operation.");
            }

            return StatusCode.OK;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
        {
            if (e.Trailers.GetValueBytes("grpc-status-details-bin") is not { } details
                || !Google.Rpc.Status.Parser.ParseFrom(details).Details.Any(d => d.Is(Google.Rpc.RetryInfo.Descriptor)))
            {
                throw new InvalidOperationException("Benchmark self-check failed: RESOURCE_EXHAUSTED without RetryInfo.", e);
            }

            return StatusCode.ResourceExhausted;
        }
    }
}
