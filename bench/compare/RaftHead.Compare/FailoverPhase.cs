using System.Diagnostics;
using Google.Protobuf;

namespace RaftHead.Compare;

/// <summary>
/// Rounds of: find the leader, check it takes a write, wait a random 0–200 ms (so the kill falls anywhere between
/// heartbeats), SIGKILL it, then time until the first put acknowledged by any survivor. Clients retry fast: every
/// 10 ms a new put goes to each survivor, without waiting for earlier ones (each has a 1 s deadline), so a put stuck
/// on a follower that still forwards to the dead leader costs nothing. Then the killed member restarts on its data
/// directory and the next round starts once it has caught up; a member that does not catch up ends the row (its
/// restart time is infinite) instead of the whole run.
/// </summary>
internal static class FailoverPhase
{
    private static readonly TimeSpan AttemptInterval = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RoundDeadline = TimeSpan.FromSeconds(15);

    public static async Task<FailoverResult> RunAsync(IClusterUnderTest cluster, int rounds, Random random, Action<string> progress, CancellationToken cancellationToken)
    {
        var value = ByteString.CopyFrom(Enumerable.Repeat((byte)'f', 100).ToArray());
        var results = new List<FailoverRound>(rounds);
        for (var round = 1; round <= rounds; round++)
        {
            var leader = await LeaderWait.ForAsync(cluster, TimeSpan.FromSeconds(30), cancellationToken);
            await WriteThroughAsync(cluster, leader, $"pre-{round}", value, cancellationToken);
            await Task.Delay(random.Next(0, 200), cancellationToken);

            var survivors = cluster.Members.Where(m => m != leader).ToArray();
            var killedAtUtc = DateTime.UtcNow;
            var clock = Stopwatch.StartNew();
            cluster.Kill(leader);
            var (ackedBy, elapsed, attempts) = await FirstAcknowledgedWriteAsync(cluster, survivors, $"failover-{round}", value, clock, cancellationToken);
            await cluster.WaitExitedAsync(leader);

            var restartClock = Stopwatch.StartNew();
            var caughtUp = true;
            try
            {
                await cluster.RestartAsync(leader, cancellationToken);
            }
            catch (TimeoutException e)
            {
                // The row ends here: one more kill would leave no quorum. What was measured so far is kept.
                caughtUp = false;
                progress($"{cluster.Name} failover round {round}/{rounds}: the restarted member did not catch up ({e.Message}); no more rounds for this row");
            }
            var restartMs = caughtUp ? restartClock.Elapsed.TotalMilliseconds : double.PositiveInfinity;
            var result = new FailoverRound(round, leader, ackedBy, elapsed?.TotalMilliseconds, attempts, restartMs);
            results.Add(result);
            progress($"{cluster.Name} failover round {round}/{rounds}: killed {leader} at {killedAtUtc:HH:mm:ss.fff}, first write acked by {ackedBy?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} after {result.FailoverMs?.ToString("0", System.Globalization.CultureInfo.InvariantCulture) ?? "—"} ms ({attempts} puts tried); restart + catch-up {restartMs:0} ms");
            if (!caughtUp) break;
        }
        return new FailoverResult(cluster.Name, cluster.Settings, results);
    }

    private static async Task WriteThroughAsync(IClusterUnderTest cluster, int leader, string key, ByteString value, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                await cluster.PutAsync(leader, key, value, TimeSpan.FromSeconds(2), cancellationToken);
                return;
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or InvalidOperationException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20, cancellationToken);
                leader = await LeaderWait.ForAsync(cluster, TimeSpan.FromSeconds(20), cancellationToken);
            }
        }
    }

    private static async Task<(int? AckedBy, TimeSpan? Elapsed, int Attempts)> FirstAcknowledgedWriteAsync(
        IClusterUnderTest cluster, int[] survivors, string keyPrefix, ByteString value, Stopwatch clock, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var first = new TaskCompletionSource<(int Member, TimeSpan Elapsed)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = new List<Task>();
        var attempts = 0;

        async Task AttemptAsync(int member, string key)
        {
            try
            {
                await cluster.PutAsync(member, key, value, AttemptTimeout, stop.Token);
                first.TrySetResult((member, clock.Elapsed));
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or InvalidOperationException or OperationCanceledException)
            {
                // Not leader, no leader yet, connection refused, deadline: the next attempt follows within 10 ms.
            }
        }

        try
        {
            while (!first.Task.IsCompleted && clock.Elapsed < RoundDeadline)
            {
                foreach (var member in survivors)
                {
                    attempts++;
                    inFlight.Add(AttemptAsync(member, $"{keyPrefix}-{attempts}"));
                }
                await Task.WhenAny(first.Task, Task.Delay(AttemptInterval, cancellationToken));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(inFlight);
        }
        if (!first.Task.IsCompletedSuccessfully) return (null, null, attempts);
        var (winner, elapsed) = await first.Task;
        return (winner, elapsed, attempts);
    }
}
