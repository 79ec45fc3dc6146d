using System.Globalization;
using RaftHead.Bench.Cluster;
using RaftHead.Bench.Execution;
using RaftHead.Bench.Storage;
using RaftHead.Bench.Stragglers;
using RaftHead.Bench.Worker;

namespace RaftHead.Bench;

/// <summary>
/// Scenario runner: <c>dotnet run -c Release --project bench/RaftHead.Bench -- rpc|storage|exec|cluster|dispatch|spawn|worker|stragglers [options]</c> (see bench/README.md).
/// </summary>
internal static class Program
{
    private const string Usage =
        "usage: RaftHead.Bench rpc [--seconds N] [--rounds N] [--callers N] [--out FILE] [--profile-alloc] [--skip-streaming]\n" +
        "       RaftHead.Bench storage [--seconds N] [--rounds N] [--callers N] [--population N] [--index-counts N,N,...] [--index-seconds N] [--index-writers N] [--skip-index] [--skip-redis] [--temp DIR] [--out FILE]\n" +
        "       RaftHead.Bench exec [--seconds N] [--rounds N] [--calls N] [--clients N] [--slots N] [--dirs N] [--files-per-dir N] [--materialize-rounds N] [--skip-execute] [--skip-materialize] [--temp DIR] [--copy-cache DIR] [--out FILE]\n" +
        "       RaftHead.Bench cluster [--quick] [--seconds N] [--calls N] [--clients N] [--slots N] [--kills N] [--workers N] [--leasing N] [--cpu-seconds N] [--base-port P] [--rh FILE] [--skip-execute] [--skip-failover] [--skip-scale] [--drain N] [--drain-seconds N] [--temp DIR] [--out FILE]\n" +
        "       RaftHead.Bench dispatch [--workers N] [--queued N] [--grants N] [--out FILE]\n" +
        "       RaftHead.Bench spawn [--runs N] [--temp DIR] [--out FILE]\n" +
        "       RaftHead.Bench worker [--seconds N] [--calls N] [--rounds N] [--mib-per-size N] [--skip-noop] [--skip-fetch] [--skip-parts] [--temp DIR] [--out FILE]\n" +
        "       RaftHead.Bench stragglers [--actions N] [--rounds N] [--run-ms N] [--slow-factor N] [--warmup N] [--concurrency N] [--lease-ahead N] [--low-floor-ms N] [--cases abcde] [--call-seconds N] [--temp DIR] [--out FILE]";

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("rpc" or "storage" or "exec" or "cluster" or "dispatch" or "spawn" or "worker" or "stragglers"))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        try
        {
            return args[0] switch
            {
                "rpc" => await RunRpcAsync(args, ParseRpc(args.AsSpan(1))).ConfigureAwait(false),
                "storage" => await RunStorageAsync(args, ParseStorage(args.AsSpan(1))).ConfigureAwait(false),
                "cluster" => await RunClusterAsync(args, ParseCluster(args.AsSpan(1))).ConfigureAwait(false),
                "dispatch" => await RunDispatchAsync(ParseDispatch(args.AsSpan(1))).ConfigureAwait(false),
                "spawn" => await RunSpawnAsync(ParseSpawn(args.AsSpan(1))).ConfigureAwait(false),
                "worker" => await RunWorkerAsync(args, ParseWorker(args.AsSpan(1))).ConfigureAwait(false),
                "stragglers" => await RunStragglersAsync(args, ParseStragglers(args.AsSpan(1))).ConfigureAwait(false),
                _ => await RunExecAsync(args, ParseExec(args.AsSpan(1))).ConfigureAwait(false),
            };
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }
    }

    private static string CommandLine(string[] args) => "dotnet run -c Release --project bench/RaftHead.Bench -- " + string.Join(' ', args);

    private static async Task<int> RunRpcAsync(string[] args, BenchOptions options)
    {
        using var run = new CancellationTokenSource(options.RunLimit);
        var started = TimeProvider.System.GetUtcNow();
        var scenario = new RpcScenario(options, TimeProvider.System, Console.Error);
        var report = await scenario.RunAsync(run.Token).ConfigureAwait(false);
        var markdown = report.ToMarkdown(CommandLine(args), started);
        await EmitAsync(markdown, options.OutPath, run.Token).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> RunStorageAsync(string[] args, StorageOptions options)
    {
        using var run = new CancellationTokenSource(options.RunLimit);
        var started = TimeProvider.System.GetUtcNow();
        var machine = MachineNote.Describe(options.TempRoot);
        Console.Error.WriteLine($"machine: {machine}");
        var results = await new StorageScenario(options, Console.Error).RunAsync(run.Token).ConfigureAwait(false);
        var wall = TimeProvider.System.GetUtcNow() - started;
        var markdown = new StorageReport(options, results).ToMarkdown(CommandLine(args), started, wall, machine);
        await EmitAsync(markdown, options.OutPath, run.Token).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> RunExecAsync(string[] args, ExecOptions options)
    {
        using var run = new CancellationTokenSource(options.RunLimit);
        var started = TimeProvider.System.GetUtcNow();
        var machine = MachineNote.Describe(options.TempRoot);
        Console.Error.WriteLine($"machine: {machine}");
        var results = await new ExecScenario(options, Console.Error).RunAsync(run.Token).ConfigureAwait(false);
        var wall = TimeProvider.System.GetUtcNow() - started;
        var markdown = new ExecReport(options, results).ToMarkdown(CommandLine(args), started, wall, machine);
        await EmitAsync(markdown, options.OutPath, run.Token).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> RunClusterAsync(string[] args, ClusterOptions options)
    {
        using var run = new CancellationTokenSource(options.RunLimit);
        var started = TimeProvider.System.GetUtcNow();
        var machine = MachineNote.Describe(options.TempRoot);
        Console.Error.WriteLine($"machine: {machine}");
        var results = await new ClusterScenario(options).RunAsync(run.Token).ConfigureAwait(false);
        var wall = TimeProvider.System.GetUtcNow() - started;
        var markdown = ClusterReport.ToMarkdown(options, results, CommandLine(args), started, wall, machine);
        await EmitAsync(markdown, options.OutPath, run.Token).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> RunDispatchAsync(DispatchMicroOptions options)
    {
        await EmitAsync(DispatchMicro.Run(options), options.OutPath, CancellationToken.None).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> RunSpawnAsync(SpawnCompareOptions options)
    {
        using var run = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await EmitAsync(await SpawnCompare.RunAsync(options, run.Token).ConfigureAwait(false), options.OutPath, run.Token).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> RunWorkerAsync(string[] args, WorkerBenchOptions options)
    {
        using var run = new CancellationTokenSource(options.RunLimit);
        var started = TimeProvider.System.GetUtcNow();
        var machine = MachineNote.Describe(options.TempRoot);
        Console.Error.WriteLine($"machine: {machine}");
        var results = await new WorkerScenario(options, Console.Error).RunAsync(run.Token).ConfigureAwait(false);
        var wall = TimeProvider.System.GetUtcNow() - started;
        var loadAtEnd = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        var markdown = WorkerReport.ToMarkdown(options, results, CommandLine(args), started, wall, machine, loadAtEnd);
        await EmitAsync(markdown, options.OutPath, run.Token).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> RunStragglersAsync(string[] args, StragglerOptions options)
    {
        using var run = new CancellationTokenSource(options.RunLimit);
        var started = TimeProvider.System.GetUtcNow();
        var machine = MachineNote.Describe(options.TempRoot);
        Console.Error.WriteLine($"machine: {machine}");
        var rounds = await new StragglerScenario(options, Console.Error).RunAsync(run.Token).ConfigureAwait(false);
        var wall = TimeProvider.System.GetUtcNow() - started;
        var loadAtEnd = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        var markdown = StragglerReport.ToMarkdown(options, rounds, CommandLine(args), started, wall, machine, loadAtEnd);
        await EmitAsync(markdown, options.OutPath, run.Token).ConfigureAwait(false);
        return 0;
    }

    private static async Task EmitAsync(string markdown, string? outPath, CancellationToken cancellationToken)
    {
        Console.WriteLine(markdown);
        if (outPath is { } path)
        {
            await File.WriteAllTextAsync(path, markdown, cancellationToken).ConfigureAwait(false);
            Console.Error.WriteLine($"written to {path}");
        }
    }

    private static BenchOptions ParseRpc(ReadOnlySpan<string> args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            options = arg switch
            {
                "--seconds" => options with { RoundSeconds = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0.2, 60) },
                "--rounds" => options with { Rounds = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 15) },
                "--callers" => options with { Callers = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 1024) },
                "--out" => options with { OutPath = Value(args, ref i) },
                "--profile-alloc" => options with { ProfileAllocations = true },
                "--skip-streaming" => options with { SkipStreaming = true },
                _ => throw new FormatException($"unknown argument '{arg}'"),
            };
        }

        return options;
    }

    private static StorageOptions ParseStorage(ReadOnlySpan<string> args)
    {
        var options = new StorageOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            options = arg switch
            {
                "--seconds" => options with { CaseSeconds = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0.2, 60) },
                "--rounds" => options with { Rounds = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 15) },
                "--callers" => options with { LatencyCallers = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 2, 1024) },
                "--population" => options with { FindMissingPopulation = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1_000, 10_000_000) },
                "--index-counts" => options with { IndexCounts = Value(args, ref i).Split(',').Select(c => Math.Clamp(long.Parse(c, CultureInfo.InvariantCulture), 1_000, 100_000_000)).ToArray() },
                "--index-seconds" => options with { IndexSecondsMax = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 3600) },
                "--index-writers" => options with { IndexWriters = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 4096) },
                "--skip-index" => options with { SkipIndexMemory = true },
                "--skip-redis" => options with { SkipRedis = true },
                "--temp" => options with { TempRoot = Value(args, ref i) },
                "--out" => options with { OutPath = Value(args, ref i) },
                _ => throw new FormatException($"unknown argument '{arg}'"),
            };
        }

        return options;
    }

    private static ExecOptions ParseExec(ReadOnlySpan<string> args)
    {
        var options = new ExecOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            options = arg switch
            {
                "--seconds" => options with { CaseSeconds = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0.2, 60) },
                "--rounds" => options with { Rounds = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 15) },
                "--calls" => options with { CaseCallsMax = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 10, 100_000) },
                "--clients" => options with { Clients = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 256) },
                "--slots" => options with { Slots = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 256) },
                "--dirs" => options with { Directories = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 10_000) },
                "--files-per-dir" => options with { FilesPerDirectory = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 10_000) },
                "--materialize-rounds" => options with { MaterializeRounds = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 50) },
                "--skip-execute" => options with { SkipExecute = true },
                "--skip-materialize" => options with { SkipMaterialize = true },
                "--temp" => options with { TempRoot = Value(args, ref i) },
                "--copy-cache" => options with { CopyCacheRoot = Value(args, ref i) },
                "--out" => options with { OutPath = Value(args, ref i) },
                _ => throw new FormatException($"unknown argument '{arg}'"),
            };
        }

        // The copying materializer needs its cache on another file system than the sandboxes.
        if (!args.Contains("--copy-cache") && options.TempRoot.StartsWith("/dev/shm", StringComparison.Ordinal))
        {
            options = options with { CopyCacheRoot = Path.GetTempPath() };
        }

        return options;
    }

    private static ClusterOptions ParseCluster(ReadOnlySpan<string> args)
    {
        var options = args.Contains("--quick") ? ClusterOptions.Quick(new ClusterOptions()) : new ClusterOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            options = arg switch
            {
                "--quick" => options,
                "--seconds" => options with { CaseSeconds = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0.5, 60) },
                "--calls" => options with { CaseCallsMax = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 10, 100_000) },
                "--clients" => options with { Clients = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 256) },
                "--slots" => options with { Slots = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 256) },
                "--kills" => options with { Kills = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 200) },
                "--workers" => options with { SimulatedWorkers = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 4_096) },
                "--leasing" => options with { LeasingWorkers = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 64) },
                "--cpu-seconds" => options with { CpuWindowSeconds = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 120) },
                "--base-port" => options with { BasePort = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1_024, 65_000) },
                "--rh" => options with { RhPath = Value(args, ref i) },
                "--skip-execute" => options with { SkipExecute = true },
                "--skip-failover" => options with { SkipFailover = true },
                "--skip-scale" => options with { SkipScale = true },
                "--drain" => options with { DrainOperations = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0, 100_000) },
                "--drain-seconds" => options with { DrainSeconds = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 300) },
                "--temp" => options with { TempRoot = Value(args, ref i) },
                "--out" => options with { OutPath = Value(args, ref i) },
                _ => throw new FormatException($"unknown argument '{arg}'"),
            };
        }

        return options;
    }

    private static DispatchMicroOptions ParseDispatch(ReadOnlySpan<string> args)
    {
        var options = new DispatchMicroOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            options = arg switch
            {
                "--workers" => options with { Workers = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 4, 16_384) },
                "--queued" => options with { Queued = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 10, 1_000_000) },
                "--grants" => options with { GrantsMax = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 100_000) },
                "--out" => options with { OutPath = Value(args, ref i) },
                _ => throw new FormatException($"unknown argument '{arg}'"),
            };
        }

        return options;
    }

    private static SpawnCompareOptions ParseSpawn(ReadOnlySpan<string> args)
    {
        var options = new SpawnCompareOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            options = arg switch
            {
                "--runs" => options with { Runs = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 10, 100_000) },
                "--temp" => options with { TempRoot = Value(args, ref i) },
                "--out" => options with { OutPath = Value(args, ref i) },
                _ => throw new FormatException($"unknown argument '{arg}'"),
            };
        }

        return options;
    }

    private static WorkerBenchOptions ParseWorker(ReadOnlySpan<string> args)
    {
        var options = new WorkerBenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            options = arg switch
            {
                "--seconds" => options with { CaseSeconds = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0.2, 60) },
                "--calls" => options with { CaseCallsMax = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 10, 100_000) },
                "--rounds" => options with { Rounds = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 15) },
                "--mib-per-size" => options with { BytesPerSize = Math.Clamp(long.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 4096) << 20 },
                "--skip-noop" => options with { SkipNoOp = true },
                "--skip-fetch" => options with { SkipFetch = true },
                "--skip-parts" => options with { SkipParts = true },
                "--temp" => options with { TempRoot = Value(args, ref i) },
                "--out" => options with { OutPath = Value(args, ref i) },
                _ => throw new FormatException($"unknown argument '{arg}'"),
            };
        }

        return options;
    }

    private static StragglerOptions ParseStragglers(ReadOnlySpan<string> args)
    {
        var options = new StragglerOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            options = arg switch
            {
                "--actions" => options with { Actions = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 10_000) },
                "--rounds" => options with { Rounds = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 15) },
                "--run-ms" => options with { RunMs = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 60_000) },
                "--slow-factor" => options with { SlowFactor = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 100) },
                "--warmup" => options with { WarmupActions = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0, 100) },
                "--concurrency" => options with { Concurrency = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 1, 10_000) },
                "--lease-ahead" => options with { LeaseAhead = Math.Clamp(int.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0, 16) },
                "--low-floor-ms" => options with { LowFloorMs = Math.Clamp(long.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 0, 600_000) },
                "--cases" => options with { Cases = Cases(Value(args, ref i)) },
                "--call-seconds" => options with { CallSeconds = Math.Clamp(double.Parse(Value(args, ref i), CultureInfo.InvariantCulture), 5, 3_600) },
                "--temp" => options with { TempRoot = Value(args, ref i) },
                "--out" => options with { OutPath = Value(args, ref i) },
                _ => throw new FormatException($"unknown argument '{arg}'"),
            };
        }

        return options;
    }

    private static string Cases(string letters)
    {
        if (letters.Length == 0 || letters.Any(c => c is < 'a' or > 'e'))
        {
            throw new FormatException($"--cases takes letters a to e, not '{letters}'");
        }

        return letters;
    }

    private static string Value(ReadOnlySpan<string> args, ref int i)
    {
        if (i + 1 >= args.Length)
        {
            throw new FormatException($"{args[i]} needs a value");
        }

        return args[++i];
    }
}
