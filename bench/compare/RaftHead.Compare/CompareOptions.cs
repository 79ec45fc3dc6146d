using System.Globalization;

namespace RaftHead.Compare;

/// <summary>Command line of the runner. Every phase is bounded in time and count; units in the names.</summary>
internal sealed record CompareOptions
{
    /// <summary>The node host: tests/RaftHead.Consensus.Tests' built assembly (run as <c>dotnet DLL raft-node ...</c>).</summary>
    public required string NodeDll { get; init; }

    public string Etcd { get; init; } = "etcd";

    /// <summary>The DotNext node host (bench/compare/DotNextNode's built assembly); null leaves DotNext out.</summary>
    public string? DotNextDll { get; init; }

    public string TempRoot { get; init; } = Path.GetTempPath();

    public double Seconds { get; init; } = 5;

    public double WarmupSeconds { get; init; } = 1;

    public IReadOnlyList<int> Writers { get; init; } = [1, 16, 64, 256];

    public IReadOnlyList<int> ValueBytes { get; init; } = [100, 1024];

    /// <summary>Upper bound on puts in one load level (a second bound next to the time window).</summary>
    public long MaxPutsPerLevel { get; init; } = 2_000_000;

    public int FailoverRounds { get; init; } = 20;

    /// <summary>Also run failover with our timeouts halved and etcd on our timeouts (like for like).</summary>
    public bool ExtraFailoverVariants { get; init; } = true;

    public bool SkipLoad { get; init; }

    public bool SkipFailover { get; init; }

    /// <summary>Our node's tick and election ticks for the load phase and the main failover row (the node host's defaults).</summary>
    public int TickMs { get; init; } = 10;

    public int ElectionTicks { get; init; } = 30;

    public int HeartbeatTicks { get; init; } = 5;

    /// <summary>Our snapshot threshold, set to etcd's default --snapshot-count so both snapshot equally rarely.</summary>
    public long SnapshotEntries { get; init; } = 100_000;

    public int Seed { get; init; } = 20261122;

    /// <summary>Extra environment for our node processes (<c>--node-env KEY=VALUE</c>, repeatable), e.g. runtime knobs.</summary>
    public IReadOnlyDictionary<string, string> NodeEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Whole-run bound: everything is cancelled (and every process killed) after this.</summary>
    public double MaxMinutes { get; init; } = 14;

    public string? Out { get; init; }

    /// <summary>Keep the temp directory (member logs and data) after the run, for investigation.</summary>
    public bool KeepTemp { get; init; }

    public string? PidFile { get; init; }

    /// <summary>Leave DotNext out even when run.sh passes its assembly.</summary>
    public bool NoDotNext { get; init; }

    /// <summary>Run our load-phase nodes with the node host's stage clock (per-stage medians in their logs); diagnostic, slows them.</summary>
    public bool StageClock { get; init; }

    private static Dictionary<string, string> AddPair(IReadOnlyDictionary<string, string> pairs, string pair)
    {
        var parts = pair.Split('=', 2);
        if (parts.Length != 2 || parts[0].Length == 0) throw new ArgumentException($"--node-env takes KEY=VALUE, got '{pair}'");
        return new Dictionary<string, string>(pairs) { [parts[0]] = parts[1] };
    }

    public static CompareOptions Parse(IReadOnlyList<string> args)
    {
        string? nodeDll = null;
        var options = new CompareOptions { NodeDll = "" };
        for (var i = 0; i < args.Count; i++)
        {
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            static IReadOnlyList<int> Ints(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            options = args[i] switch
            {
                "--node-dll" => options with { NodeDll = nodeDll = Next() },
                "--etcd" => options with { Etcd = Next() },
                "--dotnext-dll" => options with { DotNextDll = Next() },
                "--no-dotnext" => options with { DotNextDll = null, NoDotNext = true },
                "--temp" => options with { TempRoot = Next() },
                "--seconds" => options with { Seconds = double.Parse(Next(), CultureInfo.InvariantCulture) },
                "--warmup-seconds" => options with { WarmupSeconds = double.Parse(Next(), CultureInfo.InvariantCulture) },
                "--writers" => options with { Writers = Ints(Next()) },
                "--values" => options with { ValueBytes = Ints(Next()) },
                "--max-puts-per-level" => options with { MaxPutsPerLevel = long.Parse(Next(), CultureInfo.InvariantCulture) },
                "--failover-rounds" => options with { FailoverRounds = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--no-extra-failover" => options with { ExtraFailoverVariants = false },
                "--skip-load" => options with { SkipLoad = true },
                "--skip-failover" => options with { SkipFailover = true },
                "--tick-ms" => options with { TickMs = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--election-ticks" => options with { ElectionTicks = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--heartbeat-ticks" => options with { HeartbeatTicks = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--snapshot-entries" => options with { SnapshotEntries = long.Parse(Next(), CultureInfo.InvariantCulture) },
                "--node-env" => options with { NodeEnvironment = AddPair(options.NodeEnvironment, Next()) },
                "--seed" => options with { Seed = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--max-minutes" => options with { MaxMinutes = double.Parse(Next(), CultureInfo.InvariantCulture) },
                "--keep-temp" => options with { KeepTemp = true },
                "--stage-clock" => options with { StageClock = true, KeepTemp = true },
                "--out" => options with { Out = Next() },
                "--pid-file" => options with { PidFile = Next() },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        if (options.NoDotNext) options = options with { DotNextDll = null };
        if (nodeDll is null) throw new ArgumentException("--node-dll is required");
        if (options.Seconds <= 0 || options.Seconds > 60) throw new ArgumentException("--seconds must be in (0, 60]");
        if (options.FailoverRounds is < 1 or > 100) throw new ArgumentException("--failover-rounds must be in [1, 100]");
        if (options.Writers.Any(w => w is < 1 or > 1024)) throw new ArgumentException("--writers must be in [1, 1024]");
        if (options.ValueBytes.Any(v => v is < 1 or > 64 * 1024)) throw new ArgumentException("--values must be in [1, 65536]");
        return options;
    }
}
