using System.Diagnostics;
using Google.Protobuf;

namespace RaftHead.Compare;

/// <summary>
/// Closed-loop writers: each sends one put to the leader, waits for the acknowledgement, sends the next. A warm-up
/// then a measured window; writes completing inside the window count, with their latencies. Bounded by the window
/// and by a total number of puts.
/// </summary>
internal static class LoadPhase
{
    private const int KeysPerWriter = 64;
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);

    public static async Task<LoadResult> RunAsync(IClusterUnderTest cluster, int writers, int valueBytes, TimeSpan warmup, TimeSpan measure, long maxPuts, CancellationToken cancellationToken)
    {
        var value = ByteString.CopyFrom(Enumerable.Repeat((byte)'v', valueBytes).ToArray());
        using var target = new LeaderTarget(cluster, await LeaderWait.ForAsync(cluster, TimeSpan.FromSeconds(30), cancellationToken));
        var latencies = new List<double>[writers];
        var errors = new long[writers];
        var rejected = new long[writers];
        var errorKinds = new System.Collections.Concurrent.ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        long issued = 0;
        var serverPids = cluster.ServerPids;
        var start = Stopwatch.GetTimestamp();
        var windowStart = start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var windowEnd = windowStart + (long)(measure.TotalSeconds * Stopwatch.Frequency);
        double serverCpuAtWindow = 0, clientCpuAtWindow = 0;
        var cpuSampled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task WriterAsync(int w)
        {
            var mine = latencies[w] = new List<double>(4096);
            for (long i = 0; ; i++)
            {
                if (Stopwatch.GetTimestamp() >= windowEnd || Interlocked.Increment(ref issued) > maxPuts) return;
                var key = $"w{w:D3}-k{i % KeysPerWriter:D2}";
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    await cluster.PutAsync(target.Member, key, value, CallTimeout, cancellationToken);
                    var t1 = Stopwatch.GetTimestamp();
                    if (t1 >= windowStart && t1 <= windowEnd) mine.Add((t1 - t0) * 1000.0 / Stopwatch.Frequency);
                }
                catch (Exception e) when (e is Grpc.Core.RpcException or InvalidOperationException or TimeoutException)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var t1 = Stopwatch.GetTimestamp();
                    if (t1 >= windowStart && t1 <= windowEnd)
                    {
                        // Back-pressure is an answer, not a failure: counted apart from everything else.
                        if (e is Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.ResourceExhausted }) rejected[w]++;
                        else errors[w]++;
                        errorKinds.AddOrUpdate(Describe(e), 1, (_, n) => n + 1);
                    }
                    await target.RefreshAsync(cancellationToken);
                    await Task.Delay(5, cancellationToken);
                }
            }
        }

        async Task SampleCpuAtWindowStartAsync()
        {
            var wait = TimeSpan.FromSeconds((double)(windowStart - Stopwatch.GetTimestamp()) / Stopwatch.Frequency);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellationToken);
            serverCpuAtWindow = CpuTime.TotalMs(serverPids);
            clientCpuAtWindow = CpuTime.OfMs(Environment.ProcessId);
            cpuSampled.TrySetResult();
        }

        var sampler = SampleCpuAtWindowStartAsync();
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(() => WriterAsync(w), cancellationToken)).ToArray();
        var windowEndDelay = TimeSpan.FromSeconds((double)(windowEnd - Stopwatch.GetTimestamp()) / Stopwatch.Frequency);
        if (windowEndDelay > TimeSpan.Zero) await Task.WhenAny(Task.Delay(windowEndDelay, cancellationToken), Task.WhenAll(tasks));
        await sampler;
        var serverCpu = CpuTime.TotalMs(serverPids) - serverCpuAtWindow;
        var clientCpu = CpuTime.OfMs(Environment.ProcessId) - clientCpuAtWindow;
        await Task.WhenAll(tasks);

        var all = latencies.SelectMany(l => l).ToList();
        all.Sort();
        var seconds = Math.Min(measure.TotalSeconds, (Stopwatch.GetTimestamp() - windowStart) / (double)Stopwatch.Frequency);
        return new LoadResult(
            cluster.Name,
            valueBytes,
            writers,
            all.Count,
            seconds,
            Percentiles.Of(all, 0.50),
            Percentiles.Of(all, 0.99),
            all.Count == 0 ? double.NaN : all[^1],
            errors.Sum(),
            rejected.Sum(),
            errorKinds.OrderByDescending(k => k.Value).ToDictionary(k => k.Key, k => k.Value),
            all.Count == 0 ? double.NaN : serverCpu / all.Count,
            all.Count == 0 ? double.NaN : clientCpu / all.Count);
    }

    /// <summary>What a failed put was, for the report: the gRPC status and the start of its message (numbers blanked so alike errors group).</summary>
    private static string Describe(Exception e)
    {
        var (code, text) = e is Grpc.Core.RpcException rpc ? (rpc.StatusCode.ToString(), rpc.Status.Detail) : (e.GetType().Name, e.Message);
        var chars = text.Length > 80 ? text[..80].ToCharArray() : text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsAsciiDigit(chars[i])) chars[i] = '#';
        }
        return $"{code}: {new string(chars)}";
    }

    /// <summary>Where writers send puts; re-discovered (at most every 50 ms) after a failure.</summary>
    private sealed class LeaderTarget(IClusterUnderTest cluster, int initial) : IDisposable
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private long _refreshedAt = Stopwatch.GetTimestamp();
        private volatile int _member = initial;

        public void Dispose() => _gate.Dispose();

        public int Member => _member;

        public async Task RefreshAsync(CancellationToken cancellationToken)
        {
            if (!await _gate.WaitAsync(0, cancellationToken)) return;
            try
            {
                if (Stopwatch.GetElapsedTime(_refreshedAt) < TimeSpan.FromMilliseconds(50)) return;
                if (await cluster.FindLeaderAsync(cancellationToken) is { } leader) _member = leader;
                _refreshedAt = Stopwatch.GetTimestamp();
            }
            finally
            {
                _gate.Release();
            }
        }
    }
}
