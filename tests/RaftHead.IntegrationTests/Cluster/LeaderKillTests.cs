using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using Google.LongRunning;
using RaftHead.Protocol.Client;
using RaftHead.Testing;
using Xunit.Abstractions;
using Stage = Build.Bazel.Remote.Execution.V2.ExecutionStage.Types.Value;

namespace RaftHead.IntegrationTests.Cluster;

/// <summary>
/// A real cluster (<c>rh up</c>: three head processes, two worker processes) under load from concurrent clients while
/// the leader head is killed with SIGKILL: every call completes with the right output, no action runs twice, and every
/// operation a client was told about is still known, done, on the surviving heads.
/// </summary>
[Collection(RhUpCluster.Collection)]
public sealed class LeaderKillTests(ITestOutputHelper output)
{
    private const int Actions = 200;
    private const int Clients = 4;
    private const int KillAfter = 60;

    private static readonly TimeSpan LoadTimeout = TimeSpan.FromSeconds(100);

    [Fact(Timeout = 170_000)]
    public async Task Kill_9_of_the_leader_mid_load_loses_nothing_acknowledged_and_runs_no_action_twice()
    {
        var started = DateTime.UtcNow;
        using var temp = new TempDirectory();
        var runLog = RunLogIn(temp);
        await using var cluster = await RhUpCluster.StartAsync(temp.Path, workers: 2, slots: 2);
        using var channels = new GrpcChannels(new GrpcChannelSettings { RetryAttemptsMax = 3 });
        var load = new ActionLoad(cluster.Heads, runLog, channels);
        var killPoint = load.WhenCompleted(KillAfter);
        using var cts = new CancellationTokenSource(LoadTimeout);
        var run = load.RunAsync(Actions, Clients, cts.Token);

        await Task.WhenAny(killPoint, run);
        Assert.False(run.IsCompleted, $"the load ended before the kill point: {(run.IsFaulted ? run.Exception : "completed")}");
        var (killed, pid) = await cluster.KillLeaderAsync(channels);
        var killedAt = load.Now;
        var completedAtKill = load.Completed;
        var upLine = cluster.Up.LineCount;

        ActionLoad.Outcome[] outcomes;
        try
        {
            outcomes = await run;
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"the load failed: {e.Message}\nfailures:\n{string.Join('\n', load.Failures.Select(f => $"{f.At.TotalSeconds:F2}s {f.What}"))}\n--- rh up ---\n{cluster.Up.Log}", e);
        }

        var loadEnded = load.Now;
        Assert.True(completedAtKill < Actions - Clients, $"the leader was killed after {completedAtKill} of {Actions} actions: too late to test anything");
        var survivors = cluster.Heads.Where((_, i) => i + 1 != killed).ToList();
        var problems = new List<string>();
        var notes = new List<string>();

        // Every call completed with its own output, read back from the CAS of a surviving head.
        foreach (var outcome in outcomes)
        {
            var head = survivors[outcome.N % survivors.Count];
            var file = outcome.Response.Result.OutputFiles.SingleOrDefault(f => f.Path == "out.txt");
            if (outcome.Response.Result.ExitCode != 0 || file is null)
            {
                problems.Add($"action {outcome.N}: exit code {outcome.Response.Result.ExitCode}, outputs {outcome.Response.Result.OutputFiles}");
                continue;
            }

            var blob = (await load.Clients(head).Cas.BatchReadBlobsAsync(new BatchReadBlobsRequest { Digests = { file.Digest } })).Responses.Single();
            if (blob.Status.Code != 0 || blob.Data.ToStringUtf8() != $"{outcome.N}\n")
            {
                problems.Add($"action {outcome.N}: output {file.Digest.Hash} on {head}: {blob.Status}, '{blob.Data.ToStringUtf8().Trim()}'");
            }
        }

        // Nothing acknowledged is lost: each operation name a client was given is known, done and successful on every surviving head.
        foreach (var head in survivors)
        {
            var operations = load.Clients(head).Operations;
            foreach (var outcome in outcomes)
            {
                foreach (var name in outcome.OperationNames)
                {
                    // A name given before a retry may have ended without a result; it must still be known and done.
                    var operation = await operations.GetOperationAsync(new GetOperationRequest { Name = name });
                    var response = operation.ResultCase == Operation.ResultOneofCase.Response ? operation.Response.Unpack<ExecuteResponse>() : null;
                    if (!operation.Done || (name == outcome.OperationNames[^1] && response?.Result?.ExitCode != 0))
                    {
                        problems.Add($"action {outcome.N}: {head} has operation {name} done={operation.Done} {operation.ResultCase} {response?.Status}");
                    }
                    else if (response?.Status is { Code: not 0 } status)
                    {
                        notes.Add($"action {outcome.N}: operation {name} ended with {status.Code}: {status.Message}");
                    }
                }
            }
        }

        // Exactly once: each action's command ran once (the run log outside the sandbox has one line per run), and
        // the head's own record agrees: one completed, executed (not cached) operation per action.
        var runLines = File.ReadAllLines(runLog);
        var runs = runLines.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var listed = await load.Clients(survivors[0]).Admin.ListOperationsAsync(new RaftHead.Protocol.V1.ListOperationsRequest());
        var failures = load.Failures.OrderBy(f => f.At).ToList();
        foreach (var outcome in outcomes)
        {
            var ran = runs.GetValueOrDefault(outcome.N.ToString(CultureInfo.InvariantCulture));
            var ops = listed.Operations.Where(o => o.ActionDigest.Hash == outcome.ActionDigest.Hash).ToList();
            var executed = ops.Count(o => o.Stage == Stage.Completed && !o.CachedResult);
            if (ran != 1 || executed != 1)
            {
                var at = runLines.Select((l, i) => (l, i)).Where(x => x.l == outcome.N.ToString(CultureInfo.InvariantCulture)).Select(x => x.i);
                problems.Add($"action {outcome.N} ran {ran} times (run log lines {string.Join(',', at)} of {runLines.Length}), {executed} executed operations on {survivors[0]}; client got {string.Join(',', outcome.OperationNames)} from {outcome.Head} after {outcome.Retries} retries");
                problems.AddRange(ops.Select(o => $"    {o.Name} {o.Stage} cached={o.CachedResult} worker={o.Worker} queued={o.QueuedAt} started={o.StartedAt} completed={o.CompletedAt} status={o.StatusCode}"));
                problems.AddRange(failures.Where(f => f.What.StartsWith($"action {outcome.N} ", StringComparison.Ordinal)).Select(f => $"    {f.At.TotalSeconds:F2}s {f.What}"));
            }
        }

        var firstFailure = failures.FirstOrDefault(f => f.At >= killedAt);
        var recovered = load.Successes.Where(s => s.Ended > firstFailure.At).Select(s => s.Ended).DefaultIfEmpty(TimeSpan.Zero).Min();

        // A stream a follower serves from its applied state can end done after the kill without a new leader; an
        // attempt begun after the first failure needs one.
        var served = load.Successes.Where(s => s.Started > firstFailure.At).Select(s => s.Ended).DefaultIfEmpty(TimeSpan.Zero).Min();
        output.WriteLine($"killed head {killed} (pid {pid}) at {killedAt.TotalSeconds:F2}s after {completedAtKill} of {Actions} actions; load ended at {loadEnded.TotalSeconds:F2}s; test took {(DateTime.UtcNow - started).TotalSeconds:F1}s");
        output.WriteLine(failures.Count == 0
            ? "no call failed"
            : $"{failures.Count} failed attempts on {outcomes.Count(o => o.Retries > 0)} actions; unavailable from {firstFailure.At.TotalSeconds:F2}s to the next success at {recovered.TotalSeconds:F2}s ({(recovered - firstFailure.At).TotalMilliseconds:F0} ms), first attempt begun after it succeeded at {served.TotalSeconds:F2}s ({(served - firstFailure.At).TotalMilliseconds:F0} ms); last failure at {failures[^1].At.TotalSeconds:F2}s");
        foreach (var f in failures)
        {
            output.WriteLine($"  {f.At.TotalSeconds:F2}s {f.What}");
        }

        foreach (var note in notes.Distinct())
        {
            output.WriteLine(note);
        }

        output.WriteLine($"operations listed on {survivors[0]}: {listed.Operations.Count}; rh up after the kill:");
        foreach (var line in cluster.Up.Log.Split('\n').Skip(upLine))
        {
            output.WriteLine($"  {line}");
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
        Assert.Equal(Actions, runs.Count);
    }

    /// <summary>A run log in a directory the workers' run-as user may write (the temp root is made searchable by the cluster).</summary>
    internal static string RunLogIn(TempDirectory temp)
    {
        var directory = temp.Combine("runs");
        System.IO.Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, (UnixFileMode)Convert.ToInt32("777", 8));
        return Path.Combine(directory, "runs.log");
    }
}
