using System.Diagnostics;

namespace RaftHead.Bench;

/// <summary>Runs one side's calls for a round, bounded by a call budget and a deadline, and measures it.</summary>
internal sealed class LoadDriver
{
    private readonly TimeProvider _time;

    public LoadDriver(TimeProvider time)
    {
        _time = time;
    }

    /// <summary>One caller, one call after another; every call's latency is kept.</summary>
    public async Task<RoundResult> SequentialAsync(string side, Func<CancellationToken, Task> call, TimeSpan duration, int maxCalls, CancellationToken cancellationToken)
    {
        Debug.Assert(maxCalls > 0, "a round needs a call budget");
        var latencies = new long[maxCalls];
        var calls = 0;
        var probe = Probe.Start(_time);
        var end = probe.StartTimestamp + (long)(duration.TotalSeconds * _time.TimestampFrequency);
        while (calls < maxCalls)
        {
            var before = _time.GetTimestamp();
            if (before >= end)
            {
                break;
            }

            await call(cancellationToken).ConfigureAwait(false);
            latencies[calls++] = _time.GetTimestamp() - before;
        }

        var (p50, p99) = Percentiles(latencies.AsSpan(0, calls));
        return probe.Stop(side, calls, p50, p99);
    }

    /// <summary><paramref name="callers"/> callers share one budget and one deadline; each has its own state.</summary>
    public async Task<RoundResult> ConcurrentAsync(string side, Func<Func<CancellationToken, Task>> newCaller, int callers, TimeSpan duration, int maxCalls, CancellationToken cancellationToken)
    {
        Debug.Assert(callers > 0 && maxCalls > 0, "a round needs callers and a call budget");
        var budget = (long)maxCalls;
        long completed = 0;
        var workers = new Func<CancellationToken, Task>[callers];
        for (var i = 0; i < callers; i++)
        {
            workers[i] = newCaller();
        }

        var probe = Probe.Start(_time);
        var end = probe.StartTimestamp + (long)(duration.TotalSeconds * _time.TimestampFrequency);
        var tasks = new Task[callers];
        for (var i = 0; i < callers; i++)
        {
            var worker = workers[i];
            tasks[i] = Task.Run(
                async () =>
                {
                    long mine = 0;
                    while (_time.GetTimestamp() < end && Interlocked.Decrement(ref budget) >= 0)
                    {
                        await worker(cancellationToken).ConfigureAwait(false);
                        mine++;
                    }

                    Interlocked.Add(ref completed, mine);
                },
                cancellationToken);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        return probe.Stop(side, Interlocked.Read(ref completed), double.NaN, double.NaN);
    }

    /// <summary>Streaming calls back to back; each returns the payload bytes it received.</summary>
    public async Task<RoundResult> StreamingAsync(string side, Func<CancellationToken, Task<long>> call, TimeSpan duration, int maxCalls, CancellationToken cancellationToken)
    {
        long payload = 0;
        var calls = 0;
        var probe = Probe.Start(_time);
        var end = probe.StartTimestamp + (long)(duration.TotalSeconds * _time.TimestampFrequency);
        while (calls < maxCalls && _time.GetTimestamp() < end)
        {
            payload += await call(cancellationToken).ConfigureAwait(false);
            calls++;
        }

        return probe.Stop(side, calls, double.NaN, double.NaN) with { PayloadBytes = payload };
    }

    private (double P50Us, double P99Us) Percentiles(Span<long> ticks)
    {
        if (ticks.IsEmpty)
        {
            return (double.NaN, double.NaN);
        }

        ticks.Sort();
        var toUs = 1e6 / _time.TimestampFrequency;
        return (ticks[(int)((ticks.Length - 1) * 0.50)] * toUs, ticks[(int)((ticks.Length - 1) * 0.99)] * toUs);
    }

    /// <summary>Wall time, process-wide allocation and collections from the start of a round.</summary>
    private readonly record struct Probe(TimeProvider Time, long StartTimestamp, long StartAllocated, int StartGen0, int StartGen2)
    {
        public static Probe Start(TimeProvider time) =>
            new(time, time.GetTimestamp(), GC.GetTotalAllocatedBytes(precise: true), GC.CollectionCount(0), GC.CollectionCount(2));

        public RoundResult Stop(string side, long calls, double p50Us, double p99Us)
        {
            var elapsed = Time.GetElapsedTime(StartTimestamp);
            return new RoundResult(
                side,
                calls,
                elapsed,
                p50Us,
                p99Us,
                GC.GetTotalAllocatedBytes(precise: true) - StartAllocated,
                GC.CollectionCount(0) - StartGen0,
                GC.CollectionCount(2) - StartGen2);
        }
    }
}
