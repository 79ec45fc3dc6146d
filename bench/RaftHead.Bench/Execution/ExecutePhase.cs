using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using Grpc.Core;
using RaftHead.Bench.Storage;
using RaftHead.Head;
using RaftHead.Protocol.Client;
using RaftHead.Worker;
using RaftHead.Worker.Agent;

namespace RaftHead.Bench.Execution;

/// <summary>
/// A no-op action (<c>/bin/true</c>, empty input root, no outputs) through REAPI Execute against a
/// <see cref="HeadNode"/> with execution, one client and many, next to starting the same process directly (bare,
/// with the runner's redirections, through the runner's wrapper chain). The cases alternate within each round.
/// </summary>
internal sealed class ExecutePhase
{
    public const string Instance = "";
    public const string ExecuteCase = "Execute, no-op action (gRPC, skip_cache_lookup)";
    public const int StageCount = 9;

    /// <summary>Names of the stages split out of each Execute; the last is the whole call.</summary>
    public static readonly string[] StageNames =
    [
        "client send → queued_timestamp (request over gRPC; Submit: read Action and Command, check inputs, admit)",
        "queued → worker_start (queue wait, a slot's loop wakes)",
        "worker_start → input_fetch_start (take a warm sandbox)",
        "input_fetch_start → input_fetch_completed (materialize the empty input root)",
        "input_fetch_completed → execution_start (output parents, working directory)",
        "execution_start → execution_completed (wrapper chain + /bin/true, stdout/stderr files and pumps)",
        "execution_completed → worker_completed (upload stdout and stderr, collect outputs)",
        "worker_completed → done Operation at the client (action cache put, complete, stream write, client read)",
        "whole call (client send → done Operation), by the wall clock",
    ];

    private const int WarmupCalls = 100;

    private readonly ExecOptions _options;
    private readonly TextWriter _progress;
    private readonly TimeSpan _case;

    public ExecutePhase(ExecOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
        _case = TimeSpan.FromSeconds(options.CaseSeconds);
    }

    public async Task<ExecResults> RunAsync(CancellationToken cancellationToken)
    {
        using var dir = new TempDirectory(_options.TempRoot, "exec-head");
        Traversable(dir.Path);
        var head = await HeadNode.StartAsync(
            new HeadNodeOptions { Port = 0, DataDirectory = Path.Combine(dir.Path, "head"), ExecutionEnabled = true },
            cancellationToken).ConfigureAwait(false);
        await using var stopHead = head.ConfigureAwait(false);
        var runner = new ActionRunner(head.Blobs, new RunnerOptions { WorkDirectory = Path.Combine(dir.Path, "work"), RunAsUser = _options.RunAsUser, WarmSandboxes = _options.Slots + 1 });
        var isolation = runner.Isolation;
        await using var worker = await InProcessWorker.StartAsync(
            [head.Address.Authority],
            head.Blobs,
            runner,
            new WorkerAgentOptions { DataDirectory = Path.Combine(dir.Path, "worker"), Slots = _options.Slots },
            cancellationToken).ConfigureAwait(false);
        using var channel = GrpcChannels.Create(head.Address, new GrpcChannelSettings());
        var clients = new ReapiClients(channel);
        _progress.WriteLine($"exec: head on {head.Address} with {_options.Slots} slot(s); {isolation.Describe()}");

        var direct = Path.Combine(dir.Path, "direct");
        System.IO.Directory.CreateDirectory(direct);
        Traversable(direct);
        var starter = new ProcessStarter(isolation, direct);

        var clock = Stopwatch.StartNew();
        var count = WarmupCalls + (_options.Rounds * 2 * _options.CaseCallsMax);
        var actions = await NoOpActions.UploadAsync(clients, count, cancellationToken).ConfigureAwait(false);
        var uploadSeconds = clock.Elapsed.TotalSeconds;
        _progress.WriteLine($"exec: {count:N0} distinct actions uploaded (BatchUpdateBlobs) in {uploadSeconds:0.0} s");
        var next = new ActionCursor(actions);

        // Warm-up: every path once at low load, JIT and connection pools settled, sandboxes recycled.
        var unused = new List<double[]>();
        foreach (var kind in starter.Kinds)
        {
            await DirectAsync(starter, kind, 1, TimeSpan.FromSeconds(1), 50, 0, cancellationToken).ConfigureAwait(false);
        }

        await ExecuteAsync(clients, next, 1, TimeSpan.FromSeconds(2), WarmupCalls / 2, 0, unused, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(clients, next, _options.Clients, TimeSpan.FromSeconds(2), WarmupCalls / 2, 0, unused, cancellationToken).ConfigureAwait(false);

        var rounds = new List<ExecRound>();
        var stagesOne = new List<double[]>();
        var stagesMany = new List<double[]>();
        for (var r = 1; r <= _options.Rounds; r++)
        {
            foreach (var kind in starter.Kinds)
            {
                rounds.Add(Report(await DirectAsync(starter, kind, 1, _case, _options.CaseCallsMax, r, cancellationToken).ConfigureAwait(false)));
            }

            rounds.Add(Report(await ExecuteAsync(clients, next, 1, _case, _options.CaseCallsMax, r, stagesOne, cancellationToken).ConfigureAwait(false)));
            rounds.Add(Report(await ExecuteAsync(clients, next, _options.Clients, _case, _options.CaseCallsMax, r, stagesMany, cancellationToken).ConfigureAwait(false)));
            rounds.Add(Report(await DirectAsync(starter, ProcessStarter.Chain, _options.Slots, _case, _options.CaseCallsMax, r, cancellationToken).ConfigureAwait(false)));
        }

        return new ExecResults
        {
            Rounds = rounds,
            StagesOneClient = Split(stagesOne),
            StagesManyClients = Split(stagesMany),
            DirectKinds = starter.Kinds,
            Isolation = isolation.Describe(),
            WrapperChain = starter.ChainText,
            ActionsUploaded = count,
            ActionUploadSeconds = uploadSeconds,
        };
    }

    /// <summary>Directories above the sandboxes must be traversable by the run-as user.</summary>
    public static void Traversable(string path) =>
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

    internal static List<StageSplit> Split(List<double[]> samples)
    {
        var splits = new List<StageSplit>(StageCount);
        for (var s = 0; s < StageCount; s++)
        {
            var values = samples.Select(v => v[s]).Order().ToArray();
            splits.Add(values.Length == 0
                ? new StageSplit(StageNames[s], double.NaN, double.NaN)
                : new StageSplit(StageNames[s], values[(int)((values.Length - 1) * 0.50)], values[(int)((values.Length - 1) * 0.99)]));
        }

        return splits;
    }

    internal static async Task<ExecRound> DirectAsync(ProcessStarter starter, string kind, int starters, TimeSpan duration, int callsMax, int round, CancellationToken cancellationToken)
    {
        long started = 0;
        var perStarter = new List<long>[starters];
        var clock = Stopwatch.StartNew();
        var tasks = new Task[starters];
        for (var s = 0; s < starters; s++)
        {
            var samples = perStarter[s] = new List<long>(callsMax);
            tasks[s] = Task.Run(
                async () =>
                {
                    while (clock.Elapsed < duration && Interlocked.Increment(ref started) <= callsMax)
                    {
                        var before = Stopwatch.GetTimestamp();
                        await starter.RunOnceAsync(kind, cancellationToken).ConfigureAwait(false);
                        samples.Add(Stopwatch.GetTimestamp() - before);
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var all = perStarter.SelectMany(s => s).ToList();
        var (p50, p99) = Latencies.Percentiles(all);
        return new ExecRound(kind, starters, round, all.Count, seconds, p50, p99);
    }

    /// <summary>Clients each run Execute back to back (a fresh action each time) until the round ends or its calls are spent.</summary>
    internal static async Task<ExecRound> ExecuteAsync(ReapiClients reapi, ActionCursor actions, int clients, TimeSpan duration, int callsMax, int round, List<double[]> stages, CancellationToken cancellationToken)
    {
        long started = 0;
        var perClient = new List<long>[clients];
        var perClientStages = new List<double[]>[clients];
        var clock = Stopwatch.StartNew();
        var tasks = new Task[clients];
        for (var c = 0; c < clients; c++)
        {
            var samples = perClient[c] = new List<long>(callsMax);
            var split = perClientStages[c] = new List<double[]>(callsMax);
            tasks[c] = Task.Run(
                async () =>
                {
                    while (clock.Elapsed < duration && Interlocked.Increment(ref started) <= callsMax && actions.TryNext(out var action))
                    {
                        var request = new ExecuteRequest { InstanceName = Instance, ActionDigest = action, SkipCacheLookup = true };
                        var sent = DateTime.UtcNow;
                        var before = Stopwatch.GetTimestamp();
                        using var call = reapi.Execution.Execute(request, cancellationToken: cancellationToken);
                        var done = await ReadUntilDoneAsync(call, cancellationToken).ConfigureAwait(false);
                        samples.Add(Stopwatch.GetTimestamp() - before);
                        var received = DateTime.UtcNow;
                        split.Add(Stages(Check(done), sent, received));

                        // The stream ends right after the done Operation; read that end so the call closes cleanly.
                        await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false);
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var all = perClient.SelectMany(s => s).ToList();
        stages.AddRange(perClientStages.SelectMany(s => s));
        var (p50, p99) = Latencies.Percentiles(all);
        return new ExecRound(ExecuteCase, clients, round, all.Count, seconds, p50, p99);
    }

    private static async Task<Operation> ReadUntilDoneAsync(AsyncServerStreamingCall<Operation> call, CancellationToken cancellationToken)
    {
        // QUEUED, EXECUTING, done: a handful of messages; a keep-alive repeat at most once a minute.
        for (var messages = 0; messages < 1_000; messages++)
        {
            if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException("Benchmark self-check failed: the Execute stream ended before the operation was done.");
            }

            if (call.ResponseStream.Current.Done)
            {
                return call.ResponseStream.Current;
            }
        }

        throw new InvalidOperationException("Benchmark self-check failed: 1,000 Operation messages without done.");
    }

    private static ExecuteResponse Check(Operation done)
    {
        if (done.ResultCase != Operation.ResultOneofCase.Response)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: the operation ended with error {done.Error?.Code}: {done.Error?.Message}");
        }

        var response = done.Response.Unpack<ExecuteResponse>();
        if (response.Status is { Code: not 0 } || response.Result.ExitCode != 0 || response.CachedResult)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: Execute answered status {response.Status?.Code} '{response.Status?.Message}', exit code {response.Result?.ExitCode}, cached {response.CachedResult}.");
        }

        return response;
    }

    private static double[] Stages(ExecuteResponse response, DateTime sent, DateTime received)
    {
        var m = response.Result.ExecutionMetadata;
        static double Us(DateTime from, DateTime to) => (to - from).Ticks / 10.0;
        var queued = m.QueuedTimestamp.ToDateTime();
        var workerStart = m.WorkerStartTimestamp.ToDateTime();
        var inputStart = m.InputFetchStartTimestamp.ToDateTime();
        var inputDone = m.InputFetchCompletedTimestamp.ToDateTime();
        var execStart = m.ExecutionStartTimestamp.ToDateTime();
        var execDone = m.ExecutionCompletedTimestamp.ToDateTime();
        var workerDone = m.WorkerCompletedTimestamp.ToDateTime();
        return
        [
            Us(sent, queued),
            Us(queued, workerStart),
            Us(workerStart, inputStart),
            Us(inputStart, inputDone),
            Us(inputDone, execStart),
            Us(execStart, execDone),
            Us(execDone, workerDone),
            Us(workerDone, received),
            Us(sent, received),
        ];
    }

    private ExecRound Report(ExecRound round)
    {
        _progress.WriteLine(FormattableString.Invariant($"exec: round {round.Round} {round.Case,-48} {round.Clients,2} client(s): {round.Calls,5} in {round.Seconds:0.0} s, p50 {round.P50Us,8:0} us  p99 {round.P99Us,8:0} us  {round.PerSecond,6:0}/s"));
        return round;
    }

    /// <summary>Hands out each pre-uploaded action once.</summary>
    internal sealed class ActionCursor(Digest[] actions)
    {
        private long _next = -1;

        public bool TryNext(out Digest action)
        {
            var i = Interlocked.Increment(ref _next);
            action = i < actions.Length ? actions[i] : null!;
            return i < actions.Length;
        }
    }
}
