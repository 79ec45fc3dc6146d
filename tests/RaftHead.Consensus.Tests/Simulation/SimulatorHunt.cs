using System.Collections.Concurrent;
using System.Globalization;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>
/// <c>dotnet RaftHead.Consensus.Tests.dll sim-hunt [--first S] [--seeds N] [--figure8-seeds M] [--sole-voter-seeds V] [--wal DIR]</c>:
/// runs seeds in order (in parallel waves) until one fails, and prints one line,
/// <c>caught=yes|no first_failing_seed=F seeds_run=R</c>, then the failure. Seed s runs the random fault schedule,
/// while s is below M the Figure 8 script too, and while s is below V the one-voter run (as CI does). Used to measure how fast the simulator catches a
/// planted bug.
/// </summary>
public static class SimulatorHunt
{
    public static int Run(string[] args)
    {
        var first = 0;
        var count = 2_000;
        var figure8Seeds = 0;
        var soleVoterSeeds = 0;
        string? walRoot = null;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--first": first = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--seeds": count = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--figure8-seeds": figure8Seeds = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--sole-voter-seeds": soleVoterSeeds = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--wal": walRoot = args[i + 1]; break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        var wave = Environment.ProcessorCount * 16;
        for (var start = first; start < first + count; start += wave)
        {
            var end = Math.Min(first + count, start + wave);
            var failures = new ConcurrentBag<(int Seed, string Message)>();
            Parallel.For(start, end, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
            {
                var options = walRoot is null ? null : new SimulatorOptions { WalDirectory = Path.Combine(walRoot, seed.ToString(CultureInfo.InvariantCulture)) };
                try
                {
                    new Simulator(seed, options).Run();
                    if (seed < figure8Seeds) new Simulator(seed, SimulatorOptions.Figure8Script(options)).Run();
                    if (seed < soleVoterSeeds) new Simulator(seed, SimulatorOptions.SoleVoterRun(options)).Run();
                }
                catch (SimulationFailedException e)
                {
                    failures.Add((seed, e.Message));
                }
            });
            if (!failures.IsEmpty)
            {
                var (seed, message) = failures.MinBy(f => f.Seed);
                Console.WriteLine($"caught=yes first_failing_seed={seed} seeds_run={seed - first + 1}");
                Console.WriteLine(message);
                return 1;
            }
        }
        Console.WriteLine($"caught=no first_failing_seed=- seeds_run={count}");
        return 0;
    }
}
