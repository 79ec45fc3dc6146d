using System.Diagnostics;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>Bounded waits for a condition: polls it (a few ms apart) and fails with a description at the deadline.</summary>
public static class Eventually
{
    public static async Task<T> WaitAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string what)
        where T : class
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (true)
        {
            try
            {
                var value = await probe();
                if (value is not null) return value;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                last = e;
            }
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}{(last is null ? "" : "; last error: " + last.Message)}");
            }
            await Task.Delay(10);
        }
    }

    public static Task<T> WaitAsync<T>(Func<T?> probe, TimeSpan timeout, string what)
        where T : class => WaitAsync(() => Task.FromResult(probe()), timeout, what);

    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        await WaitAsync(() => condition() ? "ok" : null, timeout, what);
}
