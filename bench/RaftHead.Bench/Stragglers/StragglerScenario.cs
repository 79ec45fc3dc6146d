using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Grpc.Core;
using RaftHead.Bench.Execution;
using RaftHead.Bench.Storage;
using RaftHead.Head;
using RaftHead.Head.Frontend;
using RaftHead.Protocol.Client;
using RaftHead.Protocol.V1;

namespace RaftHead.Bench.Stragglers;

/// <summary>
/// Speculative execution against one slow worker. Per case and round, a fresh <see cref="HeadNode"/> with execution and
/// the case's <c>FrontendOptions.Speculation</c>, and workers of one slot composed as <c>rh worker</c> composes them, all
/// in this process on loopback. Three normal workers run the warm-up actions (the class's history, so its median is
/// known before any slow run); then the fourth worker (slow or normal) joins and every measured action is submitted at
/// once. A fresh head per case keeps one case's history and clones out of the next.
/// </summary>
internal sealed class StragglerScenario
{
    private const int FirstWorkers = 3;
    private const int MessagesPerCallMax = 10_000;

    private readonly StragglerOptions _options;
    private readonly TextWriter _progress;

    public StragglerScenario(StragglerOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
    }

    public async Task<List<StragglerRound>> RunAsync(CancellationToken cancellationToken)
    {
        using var root = new TempDirectory(_options.TempRoot, "stragglers");
        ExecutePhase.Traversable(root.Path);
        var cases = StragglerCase.All(_options).Where(c => _options.Cases.Contains(c.Letter, StringComparison.Ordinal)).ToList();
        var rounds = new List<StragglerRound>();
        for (var r = 1; r <= _options.Rounds; r++)
        {
            foreach (var @case in cases)
            {
                var directory = Path.Combine(root.Path, $"{r}{@case.Letter}");
                System.IO.Directory.CreateDirectory(directory);
                ExecutePhase.Traversable(directory);
                try
                {
                    var round = await RunCaseAsync(@case, r, directory, cancellationToken).ConfigureAwait(false);
                    rounds.Add(round);
                    _progress.WriteLine(
                        $"stragglers: round {r} ({@case.Letter}) {@case.Title}: wall {round.WallMs / 1000:0.00} s, p50 {round.P50Ms:0} ms, p99 {round.P99Ms:0} ms, " +
                        $"{round.ResultsFromSlow} results from the slow worker, clones {round.ClonesStarted} started / {round.ClonesWon} won, wasted {round.WastedWorkerMs} ms, {round.Errors} errors");
                }
                finally
                {
                    System.IO.Directory.Delete(directory, recursive: true);
                }
            }
        }

        return rounds;
    }

    private async Task<StragglerRound> RunCaseAsync(StragglerCase @case, int round, string directory, CancellationToken cancellationToken)
    {
        var callTime = TimeSpan.FromSeconds(_options.CallSeconds);
        var head = await HeadNode.StartAsync(
            new HeadNodeOptions
            {
                Port = 0,
                DataDirectory = Path.Combine(directory, "head"),
                CasMaxBytes = 1L << 30,
                ExecutionEnabled = true,
                Frontend = new FrontendOptions { Speculation = @case.Speculation },
            },
            cancellationToken).ConfigureAwait(false);
        await using var stopHead = head.ConfigureAwait(false);
        using var channel = GrpcChannels.Create(head.Address, new GrpcChannelSettings());
        var clients = new ReapiClients(channel);
        var warmups = await StragglerActions.UploadAsync(clients, _options, "warmup", _options.WarmupActions, cancellationToken).ConfigureAwait(false);
        var actions = await StragglerActions.UploadAsync(clients, _options, "action", _options.Actions, cancellationToken).ConfigureAwait(false);

        var workers = new List<NamedWorker>();
        try
        {
            for (var i = 1; i <= Math.Min(FirstWorkers, @case.NormalWorkers); i++)
            {
                workers.Add(await NamedWorker.StartAsync(head.Address.Authority, directory, $"w{i}", _options, cancellationToken).ConfigureAwait(false));
            }

            // The class's history, on normal workers only: all at once, one per worker.
            var warm = await Task.WhenAll(warmups.Select(d => ExecuteOneAsync(clients, d, callTime, cancellationToken))).ConfigureAwait(false);
            foreach (var w in warm)
            {
                if (w.Error.Length > 0)
                {
                    throw new InvalidOperationException("Benchmark self-check failed: a warm-up action failed: " + w.Error);
                }
            }

            for (var i = FirstWorkers + 1; i <= @case.NormalWorkers; i++)
            {
                workers.Add(await NamedWorker.StartAsync(head.Address.Authority, directory, $"w{i}", _options, cancellationToken).ConfigureAwait(false));
            }

            if (@case.Slow)
            {
                workers.Add(await NamedWorker.StartAsync(head.Address.Authority, directory, StragglerActions.SlowWorkerName, _options, cancellationToken).ConfigureAwait(false));
            }

            await WaitForWorkersAsync(head, @case.Workers, callTime, cancellationToken).ConfigureAwait(false);
            return await MeasureAsync(@case, round, head, clients, actions, callTime, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            for (var i = workers.Count - 1; i >= 0; i--)
            {
                await workers[i].DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task<StragglerRound> MeasureAsync(StragglerCase @case, int round, HeadNode head, ReapiClients clients, Digest[] actions, TimeSpan callTime, CancellationToken cancellationToken)
    {
        using var gate = new SemaphoreSlim(_options.Concurrency, _options.Concurrency);
        var start = Stopwatch.GetTimestamp();
        var calls = new Task<Outcome>[actions.Length];
        for (var i = 0; i < actions.Length; i++)
        {
            var digest = actions[i];
            calls[i] = Task.Run(
                async () =>
                {
                    await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        return await ExecuteOneAsync(clients, digest, callTime, cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        gate.Release();
                    }
                },
                cancellationToken);
        }

        var outcomes = await Task.WhenAll(calls).ConfigureAwait(false);
        var status = await clients.Admin.GetNodeStatusAsync(new GetNodeStatusRequest(), deadline: DateTime.UtcNow.Add(callTime), cancellationToken: cancellationToken).ConfigureAwait(false);
        var speculation = status.Speculation ?? new SpeculationStatus();

        var latencies = new List<long>(outcomes.Length);
        long end = start;
        int errors = 0, fromSlow = 0;
        var firstError = "";
        foreach (var outcome in outcomes)
        {
            if (outcome.Error.Length > 0)
            {
                errors++;
                firstError = firstError.Length == 0 ? outcome.Error : firstError;
                continue;
            }

            latencies.Add(outcome.EndTicks - outcome.StartTicks);
            end = Math.Max(end, outcome.EndTicks);
            fromSlow += outcome.Worker == StragglerActions.SlowWorkerName ? 1 : 0;
        }

        var (p50Us, p99Us) = Latencies.Percentiles(latencies);
        var toMs = 1000.0 / Stopwatch.Frequency;
        return new StragglerRound
        {
            Case = @case,
            Round = round,
            Actions = actions.Length,
            WallMs = (end - start) * toMs,
            P50Ms = p50Us / 1000,
            P99Ms = p99Us / 1000,
            MaxMs = latencies.Count == 0 ? double.NaN : latencies[^1] * toMs,
            ResultsFromSlow = fromSlow,
            ClonesStarted = speculation.ClonesStarted,
            ClonesWon = speculation.ClonesWon,
            WastedWorkerMs = speculation.WastedWorkerMs,
            NondeterminismReports = speculation.Nondeterminism.Count,
            Errors = errors,
            FirstError = firstError,
        };
    }

    /// <summary>One Execute call to its done Operation; a failure is an outcome (counted, first one reported), not an exception.</summary>
    private static async Task<Outcome> ExecuteOneAsync(ReapiClients clients, Digest action, TimeSpan callTime, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var call = clients.Execution.Execute(
                new ExecuteRequest { InstanceName = ExecutePhase.Instance, ActionDigest = action },
                deadline: DateTime.UtcNow.Add(callTime),
                cancellationToken: cancellationToken);
            Operation? last = null;
            for (var messages = 0; messages < MessagesPerCallMax && await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false); messages++)
            {
                last = call.ResponseStream.Current;
            }

            var ended = Stopwatch.GetTimestamp();
            if (last is not { Done: true } || last.Response is null)
            {
                return new Outcome(started, ended, "", "the call ended without a done Operation" + (last?.Error is { } e ? ": " + e.Message : ""));
            }

            var response = last.Response.Unpack<ExecuteResponse>();
            if (response.Status is { Code: not 0 } s)
            {
                return new Outcome(started, ended, "", $"status {s.Code}: {s.Message}");
            }

            if (response.CachedResult || response.Result.ExitCode != 0)
            {
                return new Outcome(started, ended, "", $"cached {response.CachedResult}, exit code {response.Result.ExitCode}");
            }

            return new Outcome(started, ended, response.Result.ExecutionMetadata?.Worker ?? "", "");
        }
        catch (RpcException e)
        {
            return new Outcome(started, Stopwatch.GetTimestamp(), "", $"{e.StatusCode}: {e.Status.Detail}");
        }
    }

    /// <summary>Until the head's state holds <paramref name="count"/> workers, each apply a look; bounded by <paramref name="time"/>.</summary>
    private static async Task WaitForWorkersAsync(HeadNode head, int count, TimeSpan time, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(time.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var next = head.Log.Changes.Next;
            if (head.Log.Current.Workers.Count >= count)
            {
                return;
            }

            var left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0)
            {
                throw new TimeoutException($"Benchmark self-check failed: {head.Log.Current.Workers.Count} of {count} workers registered within {time.TotalSeconds:0} s.");
            }

            try
            {
                await next.WaitAsync(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The next look finds the deadline passed and says how many registered.
            }
        }
    }

    private readonly record struct Outcome(long StartTicks, long EndTicks, string Worker, string Error);
}
