using RaftHead.Bench.Execution;
using RaftHead.Bench.Storage;
using RaftHead.Head;

namespace RaftHead.Bench.Worker;

/// <summary>
/// The worker daemon's benchmark: one head (<see cref="HeadNode"/> with execution) and workers composed as
/// <c>rh worker</c> composes them, in this process on loopback. First a no-op action's overhead on the worker next to
/// <c>/bin/true</c>, then whole-blob fetches from a peer and from the head next to the raw gRPC streaming rate.
/// </summary>
internal sealed class WorkerScenario
{
    private readonly WorkerBenchOptions _options;
    private readonly TextWriter _progress;

    public WorkerScenario(WorkerBenchOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
    }

    public async Task<WorkerResults> RunAsync(CancellationToken cancellationToken)
    {
        using var dir = new TempDirectory(_options.TempRoot, "worker");
        ExecutePhase.Traversable(dir.Path);
        var head = await HeadNode.StartAsync(
            new HeadNodeOptions { Port = 0, DataDirectory = Path.Combine(dir.Path, "head"), CasMaxBytes = 4L << 30, ExecutionEnabled = true },
            cancellationToken).ConfigureAwait(false);
        await using var stopHead = head.ConfigureAwait(false);
        var workerData = Path.Combine(dir.Path, "worker");
        System.IO.Directory.CreateDirectory(workerData);
        ExecutePhase.Traversable(workerData);
        var worker = await BenchWorker.StartAsync(head.Address.Authority, workerData, slots: 1, _options.RunAsUser, cancellationToken).ConfigureAwait(false);
        await using var stopWorker = worker.ConfigureAwait(false);
        var isolation = worker.Runner.Isolation.Describe();
        _progress.WriteLine($"worker: head on {head.Address}, worker {worker.Agent.WorkerId} serving peers on {worker.Server.Endpoint}; {isolation}");

        var results = new WorkerResults { Isolation = isolation };
        if (!_options.SkipNoOp)
        {
            var direct = Path.Combine(dir.Path, "direct");
            System.IO.Directory.CreateDirectory(direct);
            ExecutePhase.Traversable(direct);
            results = results with { NoOpRounds = await new NoOpPhase(_options, _progress).RunAsync(head.Address, worker, direct, cancellationToken).ConfigureAwait(false) };
        }

        if (!_options.SkipFetch)
        {
            results = results with { FetchRounds = await new FetchPhase(_options, _progress).RunAsync(head, worker, dir.Path, cancellationToken).ConfigureAwait(false) };
        }

        return results;
    }
}
