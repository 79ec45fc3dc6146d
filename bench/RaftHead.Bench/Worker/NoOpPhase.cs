using RaftHead.Bench.Execution;
using RaftHead.Protocol.Client;

namespace RaftHead.Bench.Worker;

/// <summary>
/// A no-op action (<c>/bin/true</c>, empty input root, no outputs) through Execute to a head and the worker composed as
/// <c>rh worker</c>, one client, next to <c>/bin/true</c> started directly; the two sides alternate, their order
/// flipping each round. Per round: p50 and p99 of the whole call at the client, of the worker's span
/// (worker_start → worker_completed, from ExecutedActionMetadata) and its parts, and of the bare start.
/// </summary>
internal sealed class NoOpPhase
{
    /// <summary>What one round reports, in order; the worker-side figures come from each result's metadata.</summary>
    public static readonly string[] Metrics =
    [
        "`/bin/true`, Process.Start + WaitForExit (bare)",
        "worker_start → worker_completed (worker, lease to result)",
        "  input fetch (input_fetch_start → input_fetch_completed)",
        "  execution (execution_start → execution_completed)",
        "  output upload (execution_completed → worker_completed)",
        "client send → worker_start (Submit committed in the head's log, placement committed, lease carrying the Action and Command)",
        "worker_completed → done Operation at the client (Complete, action result, stream)",
        "Execute → done Operation at the client",
    ];

    public const int Bare = 0;
    public const int WorkerSpan = 1;
    public const int Execution = 3;
    public const int Whole = 7;

    private const int WarmupCalls = 100;

    private readonly WorkerBenchOptions _options;
    private readonly TextWriter _progress;

    public NoOpPhase(WorkerBenchOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
    }

    /// <summary>Per round, per metric: (p50, p99) in microseconds.</summary>
    public async Task<List<(double P50Us, double P99Us)[]>> RunAsync(Uri head, BenchWorker worker, string directory, CancellationToken cancellationToken)
    {
        using var channel = GrpcChannels.Create(head, new GrpcChannelSettings());
        var clients = new ReapiClients(channel);
        var count = WarmupCalls + (_options.Rounds * _options.CaseCallsMax);
        var next = new ExecutePhase.ActionCursor(await NoOpActions.UploadAsync(clients, count, cancellationToken).ConfigureAwait(false));
        var starter = new ProcessStarter(worker.Runner.Isolation, directory);
        var caseTime = TimeSpan.FromSeconds(_options.CaseSeconds);

        await ExecutePhase.DirectAsync(starter, ProcessStarter.Bare, 1, TimeSpan.FromSeconds(1), 50, 0, cancellationToken).ConfigureAwait(false);
        await ExecutePhase.ExecuteAsync(clients, next, 1, TimeSpan.FromSeconds(3), WarmupCalls, 0, [], cancellationToken).ConfigureAwait(false);

        var rounds = new List<(double P50Us, double P99Us)[]>();
        for (var r = 1; r <= _options.Rounds; r++)
        {
            ExecRound bare = null!;
            var stages = new List<double[]>();
            for (var side = 0; side < 2; side++)
            {
                if ((side + r) % 2 == 0)
                {
                    bare = await ExecutePhase.DirectAsync(starter, ProcessStarter.Bare, 1, caseTime, _options.CaseCallsMax, r, cancellationToken).ConfigureAwait(false);
                    _progress.WriteLine($"worker: round {r} /bin/true bare: {bare.Calls} starts, p50 {bare.P50Us:0} us");
                }
                else
                {
                    var execute = await ExecutePhase.ExecuteAsync(clients, next, 1, caseTime, _options.CaseCallsMax, r, stages, cancellationToken).ConfigureAwait(false);
                    _progress.WriteLine($"worker: round {r} Execute: {execute.Calls} calls, p50 {execute.P50Us:0} us");
                }
            }

            rounds.Add(Round(bare, stages));
        }

        return rounds;
    }

    /// <summary>
    /// The metrics of one round. Each sample is one Execute's stages as <see cref="ExecutePhase.StageNames"/> lists
    /// them: the worker's span sums the stages between worker_start and worker_completed of the same call. The lease
    /// carries queued_timestamp in whole milliseconds, so the stages before worker_start are taken together.
    /// </summary>
    private static (double P50Us, double P99Us)[] Round(ExecRound bare, List<double[]> samples)
    {
        var metrics = new (double, double)[Metrics.Length];
        metrics[Bare] = (bare.P50Us, bare.P99Us);
        metrics[WorkerSpan] = Percentiles(samples.Select(s => s[2] + s[3] + s[4] + s[5] + s[6]));
        metrics[2] = Percentiles(samples.Select(s => s[3]));
        metrics[Execution] = Percentiles(samples.Select(s => s[5]));
        metrics[4] = Percentiles(samples.Select(s => s[6]));
        metrics[5] = Percentiles(samples.Select(s => s[0] + s[1]));
        metrics[6] = Percentiles(samples.Select(s => s[7]));
        metrics[Whole] = Percentiles(samples.Select(s => s[8]));
        return metrics;
    }

    private static (double P50Us, double P99Us) Percentiles(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0
            ? (double.NaN, double.NaN)
            : (sorted[(int)((sorted.Length - 1) * 0.50)], sorted[(int)((sorted.Length - 1) * 0.99)]);
    }
}
