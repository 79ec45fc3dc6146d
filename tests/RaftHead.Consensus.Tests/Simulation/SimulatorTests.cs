using System.Collections.Concurrent;
using System.Diagnostics;
using RaftHead.Testing;
using Xunit.Abstractions;

namespace RaftHead.Consensus.Tests.Simulation;

public sealed class SimulatorTests
{
#if DEBUG
    // CI also runs the simulator in Debug so the core's Debug.Assert invariants fire; that build is about three
    // times slower, so it covers fewer seeds (Release covers the full counts every mutation must be caught within).
    private const int CiSeeds = 600;
    private const int WalSeeds = 30;
    private const int Figure8Seeds = 50;
    private const int SoleVoterSeeds = 100;
#else
    private const int CiSeeds = 2_000;
    private const int WalSeeds = 100;
    private const int Figure8Seeds = 100;
    private const int SoleVoterSeeds = 300;
#endif
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

    /// <summary>
    /// Figure 8 of the Raft paper under seeded timing, with the driver's code on every node: an old-term entry that
    /// reaches a majority under a later leader must not be committed by counting replicas, because a rival with
    /// a higher last term can still win and overwrite it. Every run checks that nothing committed or applied is
    /// ever overwritten; most runs must really reach the dangerous state.
    /// </summary>
    [Fact]
    public void Figure8_an_old_term_entry_on_a_majority_is_never_committed_by_counting_replicas()
    {
        var formed = new ConcurrentBag<int>();
        _output.WriteLine(RunSeeds(0, Figure8Seeds, _ => SimulatorOptions.Figure8Script(), result =>
        {
            if (result.Figure8Formed > 0) formed.Add(result.Seed);
        }));
        _output.WriteLine($"{formed.Count} of {Figure8Seeds} runs put the old entry on a majority under a later leader");
        Assert.True(formed.Count >= Figure8Seeds / 2, $"only {formed.Count} of {Figure8Seeds} runs reached Figure 8's state");
    }

    /// <summary>
    /// Thesis §10.2.1 at its sharpest: a sole voter's appends leave for its learners before its own sync, and power
    /// cuts inside that sync are frequent. Its commit must wait for the sync: a learner told of a commit the voter
    /// then loses would have applied an entry the restarted voter overwrites.
    /// </summary>
    [Fact]
    public void A_sole_voter_crashing_between_its_appends_and_its_sync_commits_nothing_it_loses()
    {
        var crashes = 0L;
        _output.WriteLine(RunSeeds(0, SoleVoterSeeds, _ => SimulatorOptions.SoleVoterRun(), result => Interlocked.Add(ref crashes, result.Crashes)));
        Assert.True(crashes > SoleVoterSeeds, $"only {crashes} crashes in {SoleVoterSeeds} runs");
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

    /// <summary>
    /// RAFT_SEED=n replays one seed (a no-op otherwise); RAFT_WAL=1 replays it on the write-ahead log, RAFT_FIGURE8=1
    /// replays the Figure 8 script, RAFT_SOLE_VOTER=1 the one-voter run.
    /// </summary>
    [Fact]
    public void Replay()
    {
        var seed = Environment.GetEnvironmentVariable("RAFT_SEED");
        if (string.IsNullOrEmpty(seed)) return;
        var options = Environment.GetEnvironmentVariable("RAFT_WAL") == "1"
            ? new SimulatorOptions { WalDirectory = Path.Combine(Path.GetTempPath(), "rafthead-replay-" + Guid.NewGuid().ToString("N")) }
            : new SimulatorOptions();
        if (Environment.GetEnvironmentVariable("RAFT_FIGURE8") == "1") options = SimulatorOptions.Figure8Script(options);
        if (Environment.GetEnvironmentVariable("RAFT_SOLE_VOTER") == "1") options = SimulatorOptions.SoleVoterRun(options);
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

    private static string RunSeeds(int first, int count, Func<int, SimulatorOptions>? options = null, Action<SimulationResult>? onResult = null)
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
                onResult?.Invoke(result);
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
