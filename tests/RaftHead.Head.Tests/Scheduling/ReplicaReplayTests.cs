using System.Globalization;
using Google.Protobuf;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol.V1;
using Xunit.Abstractions;

namespace RaftHead.Head.Tests.Scheduling;

/// <summary>
/// Determinism, the property replication rests on: replicas applying one log hold byte-identical states and answer
/// byte-identical results, and a replica restored from a snapshot mid-log continues exactly as the others.
/// </summary>
public sealed class ReplicaReplayTests
{
    private const int Seeds = 80;
    private const int Steps = 500;
    private const int CompareEvery = 20;

    private static readonly SchedulerLimits SmallLimits = new() { UnfinishedOperationsMax = 20, ActionCacheEntriesMax = 12, AttemptsMax = 3 };

    private readonly ITestOutputHelper _output;

    public ReplicaReplayTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [Fact]
    public void Replicas_applying_the_same_random_stream_stay_identical_and_a_restored_replica_continues_identically()
    {
        var totals = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var seed = 0; seed < Seeds; seed++)
        {
            foreach (var (key, count) in Run(seed))
            {
                totals[key] = totals.GetValueOrDefault(key) + count;
            }
        }

        _output.WriteLine(string.Join(", ", totals.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}")));

        // The stream must actually reach every path it claims to test.
        foreach (var path in new[] { "Queued", "Joined", "Cached", "DuplicateRequest", "QueueFull", "InvalidArgument", "Stale", "AlreadyFinished", "NotFound", "UnsupportedVersion", "grant.Ok", "grant.Stale", "dead-lettered", "requeued", "superseded", "pruned", "batch", "batch.Ok", "batch.Stale", "graph.submitted", "graph.duplicate", "graph.finished", "clone.superseded", "clone.won", "fail.kept-running", "late", "nondeterministic" })
        {
            Assert.True(totals.GetValueOrDefault(path) > 0, $"the random stream never reached {path}");
        }
    }

    /// <summary>SCHEDULER_SEED=n replays one seed (a no-op otherwise).</summary>
    [Fact]
    public void Replay()
    {
        var seed = Environment.GetEnvironmentVariable("SCHEDULER_SEED");
        if (string.IsNullOrEmpty(seed))
        {
            return;
        }

        var counts = Run(int.Parse(seed, CultureInfo.InvariantCulture));
        _output.WriteLine(string.Join(", ", counts.Select(c => $"{c.Key}={c.Value}")));
    }

    private static Dictionary<string, int> Run(int seed)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var step = 0;
        try
        {
            var stream = new RandomCommandStream(seed);
            var leader = new Scheduler(SmallLimits);
            var follower = new SchedulerStateMachine(SmallLimits);
            SchedulerStateMachine? restored = null;
            for (step = 1; step <= Steps; step++)
            {
                var command = stream.Next(leader.State);
                var bytes = command.ToByteArray();
                var result = leader.Apply(command);
                var index = leader.LastIndex;
                var expected = result.ToByteArray();
                Assert.Equal(expected, follower.Apply(index, bytes));
                if (restored is not null)
                {
                    Assert.Equal(expected, restored.Apply(index, bytes));
                }

                Count(counts, result);
                if (step % CompareEvery == 0)
                {
                    var snapshot = leader.Machine.Snapshot();
                    Assert.Equal(snapshot, follower.Snapshot());
                    if (restored is not null)
                    {
                        Assert.Equal(snapshot, restored.Snapshot());
                    }
                }

                if (step == Steps / 2)
                {
                    var snapshot = leader.Machine.Snapshot();
                    restored = new SchedulerStateMachine(SmallLimits);
                    restored.Restore(snapshot);
                    Assert.Equal(snapshot, restored.Snapshot());
                    Assert.Null(SchedulerInvariants.Check(restored.Current, SmallLimits));
                }
            }

            Assert.Equal(leader.Machine.Snapshot(), restored!.Snapshot());
            counts["graph.finished"] = leader.State.Graphs.Values.Count(g => g.Done);
            counts["clone.won"] = leader.State.Operations.Values.Count(o => o.Phase == OperationPhase.Completed
                && o.Attempts.Any(a => a.Speculative && a.FailureReason.Length == 0 && !a.Superseded && a.EndedAtUnixMs != 0));
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException { Message: var m } || !m.StartsWith("seed ", StringComparison.Ordinal))
        {
            throw new Xunit.Sdk.XunitException($"seed {seed} failed at step {step} (replay: SCHEDULER_SEED={seed} dotnet test --filter Replay):\n{e}");
        }

        return counts;
    }

    private static void Count(Dictionary<string, int> counts, SchedulerResult result)
    {
        void Add(string key) => counts[key] = counts.GetValueOrDefault(key) + 1;
        Add(result.Code.ToString());
        switch (result.DetailCase)
        {
            case SchedulerResult.DetailOneofCase.Submit:
                Add(result.Submit.Disposition.ToString());
                break;
            case SchedulerResult.DetailOneofCase.AssignLeases:
                foreach (var grant in result.AssignLeases.Grants)
                {
                    Add("grant." + grant.Code);
                }

                break;
            case SchedulerResult.DetailOneofCase.Fail:
                // Neither: a clone failed, or the original did and its clone carries on.
                Add(result.Fail.DeadLettered ? "dead-lettered" : result.Fail.Requeued ? "requeued" : "fail.kept-running");
                break;
            case SchedulerResult.DetailOneofCase.DeclareWorkerDead:
                counts["requeued"] = counts.GetValueOrDefault("requeued") + result.DeclareWorkerDead.Requeued.Count;
                counts["dead-lettered"] = counts.GetValueOrDefault("dead-lettered") + result.DeclareWorkerDead.DeadLettered.Count;
                break;
            case SchedulerResult.DetailOneofCase.Complete:
                if (result.Complete.SupersededWorkerId.Length > 0)
                {
                    Add("superseded");
                }

                if (result.Complete.SupersededCloneWorkerId.Length > 0)
                {
                    Add("clone.superseded");
                }

                if (result.Complete.Late)
                {
                    Add("late");
                }

                if (result.Complete.Nondeterministic)
                {
                    Add("nondeterministic");
                }

                break;
            case SchedulerResult.DetailOneofCase.Prune when result.Prune.Pruned > 0:
                Add("pruned");
                break;
            case SchedulerResult.DetailOneofCase.SubmitGraph:
                Add(result.SubmitGraph.Duplicate ? "graph.duplicate" : "graph.submitted");
                break;
            case SchedulerResult.DetailOneofCase.CompleteBatch:
                Add("batch");
                foreach (var part in result.CompleteBatch.Results)
                {
                    Add("batch." + part.Code);
                    Count(counts, part);
                }

                break;
        }
    }
}
