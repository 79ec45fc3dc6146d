using System.Diagnostics;
using System.Globalization;
using System.Text;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Bench.Storage;
using RaftHead.Protocol.Runner;
using RaftHead.Storage;
using RaftHead.Worker;
using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;

namespace RaftHead.Bench.Execution;

internal sealed record SpawnCompareOptions
{
    public int Runs { get; init; } = 300;

    public string RunAsUser { get; init; } = "rh-runner";

    public string TempRoot { get; init; } = Path.GetTempPath();

    public string? OutPath { get; init; }
}

/// <summary>
/// The worker's spawn cost side by side, in one run: <c>/bin/true</c> started with <c>Process.Start</c> (bare, and
/// with its output read as the runner reads an action's), and a no-op action (<c>/bin/true</c>, empty input root)
/// through <see cref="ActionRunner.RunAsync"/> spawned directly and through the setsid and unshare programs. One
/// sample of each per round, the order rotating, one at a time.
/// </summary>
internal static class SpawnCompare
{
    private const string Bare = "`/bin/true`, Process.Start + WaitForExitAsync";
    private const string Redirected = "`/bin/true`, Process.Start with stdout and stderr read, stdin closed";
    private const string Helpers = "ActionRunner.RunAsync, through setsid + unshare";
    private const string Direct = "ActionRunner.RunAsync, spawned directly";
    private const int WarmupRounds = 30;

    public static async Task<string> RunAsync(SpawnCompareOptions options, CancellationToken cancellationToken)
    {
        using var dir = new TempDirectory(options.TempRoot, "spawn");
        ExecutePhase.Traversable(dir.Path);
        await using var store = await FasterBlobStore.OpenAsync(new FasterBlobStoreOptions { DataDirectory = Path.Combine(dir.Path, "cas"), CheckpointIntervalMs = 0 }, cancellationToken).ConfigureAwait(false);
        var root = Array.Empty<byte>();
        await store.PutAsync("", BlobSet.DigestOf(root), root, cancellationToken).ConfigureAwait(false);
        await using var direct = new ActionRunner(store, new RunnerOptions { WorkDirectory = Path.Combine(dir.Path, "direct"), RunAsUser = options.RunAsUser });
        await using var helpers = new ActionRunner(store, new RunnerOptions { WorkDirectory = Path.Combine(dir.Path, "helpers"), RunAsUser = options.RunAsUser, DirectSpawn = false });
        Console.Error.WriteLine($"spawn: direct: {direct.Isolation.Describe()}");
        Console.Error.WriteLine($"spawn: helpers: {helpers.Isolation.Describe()}");
        var command = new Command { Arguments = { "/bin/true" } };
        var action = new ReapiAction { CommandDigest = BlobSet.DigestOf(command.ToByteArray()), InputRootDigest = BlobSet.DigestOf(root) };
        var request = new ActionRunRequest("", BlobSet.DigestOf(action.ToByteArray()), action, command);

        Func<Task>[] cases =
        [
            async () =>
            {
                using var process = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!;
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            },
            () => RunOnceAsync(helpers, request, cancellationToken),
            () => RunOnceAsync(direct, request, cancellationToken),
            async () =>
            {
                var start = new ProcessStartInfo("/bin/true") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
                using var process = Process.Start(start)!;
                process.StandardInput.Close();
                var pumps = Task.WhenAll(process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, cancellationToken), process.StandardError.BaseStream.CopyToAsync(Stream.Null, cancellationToken));
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                await pumps.ConfigureAwait(false);
            },
        ];
        var samples = new List<long>[cases.Length];
        for (var c = 0; c < cases.Length; c++)
        {
            samples[c] = new List<long>(options.Runs);
        }

        for (var round = 0; round < WarmupRounds + options.Runs; round++)
        {
            for (var k = 0; k < cases.Length; k++)
            {
                var c = (round + k) % cases.Length;
                var before = Stopwatch.GetTimestamp();
                await cases[c]().ConfigureAwait(false);
                if (round >= WarmupRounds)
                {
                    samples[c].Add(Stopwatch.GetTimestamp() - before);
                }
            }
        }

        var (bareP50, bareP99) = Latencies.Percentiles(samples[0]);
        var (helpersP50, helpersP99) = Latencies.Percentiles(samples[1]);
        var (directP50, directP99) = Latencies.Percentiles(samples[2]);
        var (redirectedP50, redirectedP99) = Latencies.Percentiles(samples[3]);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{options.Runs} runs of each, interleaved (order rotating by round, one at a time), after {WarmupRounds} warm-up rounds; {Environment.ProcessorCount} logical cores.  ");
        md.AppendLine(CultureInfo.InvariantCulture, $"Direct: {direct.Isolation.Describe()}.  ");
        md.AppendLine(CultureInfo.InvariantCulture, $"Helpers: {helpers.Isolation.Describe()}.");
        md.AppendLine();
        md.AppendLine("| case | p50 ms | p99 ms | p50 beyond `/bin/true` ms |");
        md.AppendLine("|---|---:|---:|---:|");
        Row(md, Bare, bareP50, bareP99, bareP50);
        Row(md, Redirected, redirectedP50, redirectedP99, bareP50);
        Row(md, Helpers, helpersP50, helpersP99, bareP50);
        Row(md, Direct, directP50, directP99, bareP50);
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"- worker no-op overhead p50 ≤ 1 ms beyond `/bin/true`: {(directP50 - bareP50) / 1000:0.00} ms — **{((directP50 - bareP50) <= 1000 ? "met" : "not met")}**");
        return md.ToString();
    }

    private static void Row(StringBuilder md, string name, double p50, double p99, double bareP50) =>
        md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {p50 / 1000:0.00} | {p99 / 1000:0.00} | {(p50 - bareP50) / 1000:+0.00;-0.00;0.00} |");

    private static async Task RunOnceAsync(ActionRunner runner, ActionRunRequest request, CancellationToken cancellationToken)
    {
        var result = await runner.RunAsync(request, cancellationToken).ConfigureAwait(false);
        if (result.Status.Code != 0 || result.Result.ExitCode != 0)
        {
            throw new InvalidOperationException($"Benchmark self-check failed: the runner answered {result.Status.Code} '{result.Status.Message}', exit code {result.Result.ExitCode}.");
        }
    }
}
