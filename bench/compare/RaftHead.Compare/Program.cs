using System.Diagnostics;
using System.Globalization;

namespace RaftHead.Compare;

/// <summary>
/// Our three-node Raft cluster (the Consensus test assembly's node host: WAL with fsync, KV state machine) next to a
/// three-member etcd, both on loopback, in one run: committed puts/s and latency at several writer counts and value
/// sizes, then leader-kill failover. Bounded in time and count; every process it starts is stopped by PID.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        CompareOptions options;
        try
        {
            options = CompareOptions.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            await Console.Error.WriteLineAsync("usage: RaftHead.Compare --node-dll PATH [--etcd PATH] [--dotnext-dll PATH | --no-dotnext] [--seconds 5] [--warmup-seconds 1] [--writers 1,16,64,256] [--values 100,1024] [--failover-rounds 20] [--no-extra-failover] [--node-env KEY=VALUE] [--skip-load] [--skip-failover] [--temp DIR] [--keep-temp] [--stage-clock] [--out FILE] [--max-minutes 14]");
            return 2;
        }

        ChildProcess.PidFile = options.PidFile;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => ChildProcess.KillAllLive();
        Console.CancelKeyPress += (_, _) => ChildProcess.KillAllLive();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(options.MaxMinutes));
        var ct = bound.Token;
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        var loadAtStart = MachineNote.LoadAverage();
        var temp = Path.Combine(options.TempRoot, $"rafthead-compare-{Environment.ProcessId}");
        Directory.CreateDirectory(temp);
        var random = new Random(options.Seed);
        var load = new List<LoadResult>();
        var failover = new List<FailoverResult>();
        string oursSettings = "", etcdSettings = "";
        string? dotNextSettings = null;
        try
        {
            Progress($"temp {temp}; load average {loadAtStart}");
            var etcdVersion = await EtcdVersionAsync(options.Etcd, ct);
            var (fsyncP50, fsyncP99) = DiskProbe.AppendFsync(temp);
            Progress($"{etcdVersion}; append+fsync p50 {fsyncP50:0.00} ms p99 {fsyncP99:0.00} ms");

            if (!options.SkipLoad)
            {
                await using var ours = await OurCluster.StartAsync("ours", options.NodeDll, Path.Combine(temp, "load-ours"), options.TickMs, options.ElectionTicks, options.HeartbeatTicks, options.SnapshotEntries, options.NodeEnvironment, ct, options.StageClock);
                await using var etcd = await EtcdCluster.StartAsync("etcd", options.Etcd, Path.Combine(temp, "load-etcd"), heartbeatMs: 100, electionMs: 1000, preVote: false, ct);
                await using var dotNext = options.DotNextDll is null ? null : await OurCluster.StartAsync(
                    "dotnext", options.NodeDll, Path.Combine(temp, "load-dotnext"), options.TickMs, options.ElectionTicks, options.HeartbeatTicks, options.SnapshotEntries, new Dictionary<string, string>(), ct, dotNextDll: options.DotNextDll);
                oursSettings = ours.Settings;
                etcdSettings = etcd.Settings;
                dotNextSettings = dotNext?.Settings;
                IClusterUnderTest[] systems = dotNext is null ? [ours, etcd] : [ours, etcd, dotNext];
                foreach (var system in systems)
                {
                    // JIT, connections, first segment files: not measured.
                    await LoadPhase.RunAsync(system, 16, 100, TimeSpan.Zero, TimeSpan.FromSeconds(2), options.MaxPutsPerLevel, ct);
                }
                var cell = 0;
                foreach (var valueBytes in options.ValueBytes)
                {
                    foreach (var writers in options.Writers)
                    {
                        // Each system goes first in turn (with three, a rotation).
                        var first = cell++ % systems.Length;
                        var order = systems.Skip(first).Concat(systems.Take(first)).ToArray();
                        foreach (var system in order)
                        {
                            var r = await LoadPhase.RunAsync(system, writers, valueBytes, TimeSpan.FromSeconds(options.WarmupSeconds), TimeSpan.FromSeconds(options.Seconds), options.MaxPutsPerLevel, ct);
                            load.Add(r);
                            Progress(Inv($"load {r.System,-4} {valueBytes,5} B {writers,3} writers: {r.WritesPerSecond,7:0} writes/s  p50 {r.P50Ms,7:0.00} ms  p99 {r.P99Ms,7:0.00} ms  failed {r.Errors} rejected {r.Rejected}  server CPU {r.ServerCpuMsPerWrite:0.000} ms/write  (load avg {MachineNote.LoadAverage()})"));
                            foreach (var (kind, count) in r.ErrorKinds) Progress(Inv($"    {count}× {kind}"));
                        }
                    }
                }
            }

            if (!options.SkipFailover)
            {
                var variants = new List<Func<Task<IClusterUnderTest>>>
                {
                    async () => await OurCluster.StartAsync("ours", options.NodeDll, Path.Combine(temp, "fo-ours"), options.TickMs, options.ElectionTicks, options.HeartbeatTicks, options.SnapshotEntries, options.NodeEnvironment, ct),
                    async () => await EtcdCluster.StartAsync("etcd", options.Etcd, Path.Combine(temp, "fo-etcd"), heartbeatMs: 100, electionMs: 1000, preVote: false, ct),
                };
                if (options.DotNextDll is { } dotNextDll)
                {
                    // On our timeouts (its own default is 150–300 ms): the same election window as the first row.
                    variants.Add(async () => await OurCluster.StartAsync(
                        "dotnext", options.NodeDll, Path.Combine(temp, "fo-dotnext"), options.TickMs, options.ElectionTicks, options.HeartbeatTicks, options.SnapshotEntries, new Dictionary<string, string>(), ct, dotNextDll: dotNextDll));
                }
                if (options.ExtraFailoverVariants)
                {
                    // Like for like: etcd on our timeouts (and pre-vote, as ours), and ours with both timeouts halved.
                    variants.Add(async () => await EtcdCluster.StartAsync(
                        "etcd (our timeouts)", options.Etcd, Path.Combine(temp, "fo-etcd-matched"), heartbeatMs: options.TickMs * options.HeartbeatTicks, electionMs: options.TickMs * options.ElectionTicks, preVote: true, ct));
                    variants.Add(async () => await OurCluster.StartAsync(
                        "ours (halved timeouts)", options.NodeDll, Path.Combine(temp, "fo-ours-fast"), Math.Max(1, options.TickMs / 2), options.ElectionTicks, options.HeartbeatTicks, options.SnapshotEntries, options.NodeEnvironment, ct));
                }
                foreach (var start in variants)
                {
                    await using var cluster = await start();
                    failover.Add(await FailoverPhase.RunAsync(cluster, options.FailoverRounds, random, Progress, ct));
                    var f = failover[^1];
                    Progress(Inv($"failover {f.System}: median {f.MedianMs:0} ms, max {f.MaxMs:0} ms, {f.Failed} without a write"));
                }
            }

            var run = new RunInfo(
                CommandLine(args),
                started,
                clock.Elapsed,
                MachineNote.Describe(),
                loadAtStart,
                MachineNote.LoadAverage(),
                etcdVersion,
                fsyncP50,
                fsyncP99,
                options.TempRoot);
            var markdown = Report.Render(run, options, load, failover, oursSettings, etcdSettings, dotNextSettings);
            Console.WriteLine(markdown);
            if (options.Out is { } outPath) await File.WriteAllTextAsync(outPath, markdown, CancellationToken.None);
            return 0;
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync($"error: the run passed its bound of {options.MaxMinutes} minutes and was cancelled");
            return 3;
        }
        finally
        {
            ChildProcess.KillAllLive();
            try
            {
                if (options.KeepTemp) Progress($"kept {temp}");
                else Directory.Delete(temp, recursive: true);
            }
            catch (IOException e)
            {
                await Console.Error.WriteLineAsync($"could not delete {temp}: {e.Message}");
            }
        }
    }

    private static void Progress(string line) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {line}");

    private static async Task<string> EtcdVersionAsync(string etcd, CancellationToken cancellationToken)
    {
        using var process = Process.Start(new ProcessStartInfo(etcd, ["--version"]) { RedirectStandardOutput = true, UseShellExecute = false })
            ?? throw new InvalidOperationException($"could not start {etcd}");
        var output = await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join(", ", lines.Where(l => l.StartsWith("etcd Version", StringComparison.Ordinal) || l.StartsWith("Go Version", StringComparison.Ordinal)));
    }

    private static string CommandLine(string[] args) => Environment.GetEnvironmentVariable("COMPARE_COMMAND") ?? "RaftHead.Compare " + string.Join(' ', args);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
