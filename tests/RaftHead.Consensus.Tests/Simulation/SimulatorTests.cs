using System.Collections.Concurrent;
using System.Diagnostics;
using RaftHead.Testing;
using Xunit.Abstractions;

namespace RaftHead.Consensus.Tests.Simulation;

public sealed class SimulatorTests
{
    private const int CiSeeds = 2_000;
    private const int WalSeeds = 100;
    private readonly ITestOutputHelper _output;

    public SimulatorTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [Fact]
    public void Thousands_of_seeds_keep_every_invariant()
    {
        var summary = RunSeeds(0, CiSeeds);
        _output.WriteLine(summary);
    }

    [Fact]
    public void Seeds_on_the_real_write_ahead_log_with_torn_writes_keep_every_invariant()
    {
        using var root = new TempDirectory("rafthead-sim-");
        _output.WriteLine(RunSeeds(0, WalSeeds, seed => new SimulatorOptions { WalDirectory = root.Combine(seed.ToString(System.Globalization.CultureInfo.InvariantCulture)) }));
    }

    [Fact]
    public void The_same_seed_replays_the_same_run()
    {
        var first = new Simulator(42).Run();
        var second = new Simulator(42).Run();
        Assert.Equal(first, second);
    }

    [Fact]
    public void The_fault_model_actually_exercises_the_protocol()
    {
        var results = Enumerable.Range(0, 50).Select(seed => new Simulator(seed).Run()).ToList();
        Assert.True(results.Sum(r => r.Crashes) > 20);
        Assert.True(results.Sum(r => r.MembershipChanges) > 20);
        Assert.True(results.Sum(r => r.Snapshots) > 5);
        Assert.True(results.Sum(r => r.ReadsConfirmed) > 100);
        Assert.True(results.Sum(r => r.Elections) > 100);
        Assert.True(results.Sum(r => r.ProposalsCompleted) > 500);
        Assert.All(results, r => Assert.True(r.Acknowledged > 10, $"seed {r.Seed} acknowledged only {r.Acknowledged}"));
    }

    /// <summary>RAFT_SEED=n replays one seed (a no-op otherwise); RAFT_WAL=1 replays it on the write-ahead log.</summary>
    [Fact]
    public void Replay()
    {
        var seed = Environment.GetEnvironmentVariable("RAFT_SEED");
        if (string.IsNullOrEmpty(seed)) return;
        var options = Environment.GetEnvironmentVariable("RAFT_WAL") == "1"
            ? new SimulatorOptions { WalDirectory = Path.Combine(Path.GetTempPath(), "rafthead-replay-" + Guid.NewGuid().ToString("N")) }
            : null;
        var result = new Simulator(int.Parse(seed, System.Globalization.CultureInfo.InvariantCulture), options).Run();
        _output.WriteLine(result.ToString());
    }

    /// <summary>RAFT_SOAK_SEEDS=n [RAFT_SOAK_START=s] [RAFT_WAL=1] runs n more seeds (a no-op otherwise).</summary>
    [Fact]
    [Trait("Category", "Soak")]
    public void Soak()
    {
        var count = Environment.GetEnvironmentVariable("RAFT_SOAK_SEEDS");
        if (string.IsNullOrEmpty(count)) return;
        var start = Environment.GetEnvironmentVariable("RAFT_SOAK_START");
        var first = string.IsNullOrEmpty(start) ? CiSeeds : int.Parse(start, System.Globalization.CultureInfo.InvariantCulture);
        var root = Path.Combine(Path.GetTempPath(), "rafthead-soak-" + Guid.NewGuid().ToString("N"));
        Func<int, SimulatorOptions>? options = Environment.GetEnvironmentVariable("RAFT_WAL") == "1"
            ? seed => new SimulatorOptions { WalDirectory = Path.Combine(root, seed.ToString(System.Globalization.CultureInfo.InvariantCulture)) }
            : null;
        try
        {
            _output.WriteLine(RunSeeds(first, int.Parse(count, System.Globalization.CultureInfo.InvariantCulture), options));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    private static string RunSeeds(int first, int count, Func<int, SimulatorOptions>? options = null)
    {
        var failures = new ConcurrentBag<SimulationFailedException>();
        var steps = 0L;
        var acknowledged = 0L;
        var clock = Stopwatch.StartNew();
        Parallel.For(first, first + count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
        {
            try
            {
                var result = new Simulator(seed, options?.Invoke(seed)).Run();
                Interlocked.Add(ref steps, result.Steps);
                Interlocked.Add(ref acknowledged, result.Acknowledged);
            }
            catch (SimulationFailedException e)
            {
                failures.Add(e);
            }
        });
        if (!failures.IsEmpty)
        {
            var sorted = failures.OrderBy(f => f.Seed).ToList();
            throw new Xunit.Sdk.XunitException(
                $"{sorted.Count} of {count} seeds failed; seeds: {string.Join(",", sorted.Take(20).Select(f => f.Seed))}\nfirst failure:\n{sorted[0].Message}");
        }
        return $"{count} seeds from {first}: {steps} steps, {acknowledged} acknowledged values, {clock.Elapsed.TotalSeconds:F1} s";
    }
}
