using System.Diagnostics;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Bench.Execution;
using RaftHead.Bench.Storage;
using RaftHead.Protocol.Runner;
using RaftHead.Storage;
using RaftHead.Worker;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Bench.Cluster;

/// <summary>
/// The baseline: <c>/bin/true</c> run through the worker's own path (<see cref="ActionRunner.RunAsync"/>: sandbox,
/// empty input root, wrapper chain, stdout/stderr upload) in this process, one runner per slot, no head and no RPC.
/// </summary>
internal static class SpawnRate
{
    public static async Task<LoadRound> RunAsync(ClusterOptions options, CancellationToken cancellationToken)
    {
        using var dir = new TempDirectory(options.TempRoot, "spawn");
        ExecutePhase.Traversable(dir.Path);
        await using var store = await FasterBlobStore.OpenAsync(new FasterBlobStoreOptions { DataDirectory = Path.Combine(dir.Path, "cas"), CheckpointIntervalMs = 0 }, cancellationToken).ConfigureAwait(false);
        var root = Array.Empty<byte>();
        await store.PutAsync("", BlobSet.DigestOf(root), root, cancellationToken).ConfigureAwait(false);
        await using var runner = new ActionRunner(store, new RunnerOptions { WorkDirectory = Path.Combine(dir.Path, "work"), RunAsUser = options.RunAsUser, WarmSandboxes = options.Slots + 1 });
        Console.Error.WriteLine($"cluster: spawn path: {runner.Isolation.Describe()}");
        var command = new Command { Arguments = { "/bin/true" } };
        var action = new ReapiAction { CommandDigest = BlobSet.DigestOf(command.ToByteArray()), InputRootDigest = BlobSet.DigestOf(root) };
        var request = new ActionRunRequest("", BlobSet.DigestOf(action.ToByteArray()), action, command);

        await CaseAsync(runner, request, options.Slots, TimeSpan.FromSeconds(1), 50, cancellationToken).ConfigureAwait(false);
        return await CaseAsync(runner, request, options.Slots, TimeSpan.FromSeconds(options.CaseSeconds), options.CaseCallsMax, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<LoadRound> CaseAsync(ActionRunner runner, ActionRunRequest request, int slots, TimeSpan duration, int callsMax, CancellationToken cancellationToken)
    {
        long started = 0;
        var perSlot = new List<long>[slots];
        var clock = Stopwatch.StartNew();
        var tasks = new Task[slots];
        for (var s = 0; s < slots; s++)
        {
            var samples = perSlot[s] = new List<long>(callsMax);
            tasks[s] = Task.Run(
                async () =>
                {
                    while (clock.Elapsed < duration && Interlocked.Increment(ref started) <= callsMax)
                    {
                        var before = Stopwatch.GetTimestamp();
                        var result = await runner.RunAsync(request, cancellationToken).ConfigureAwait(false);
                        samples.Add(Stopwatch.GetTimestamp() - before);
                        if (result.Status.Code != 0 || result.Result.ExitCode != 0)
                        {
                            throw new InvalidOperationException($"Benchmark self-check failed: the runner answered {result.Status.Code} '{result.Status.Message}', exit code {result.Result.ExitCode}.");
                        }
                    }
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var all = perSlot.SelectMany(s => s).ToList();
        var (p50, p99) = Latencies.Percentiles(all);
        var round = new LoadRound("ActionRunner.RunAsync /bin/true (spawn path)", slots, all.Count, seconds, p50, p99);
        Console.Error.WriteLine(FormattableString.Invariant($"cluster: spawn path, {slots} slot(s): {round.Calls} in {seconds:0.0} s, p50 {p50:0} us, {round.PerSecond:0}/s"));
        return round;
    }
}
