namespace RaftHead.Compare;

internal static class Poll
{
    /// <summary>Calls <paramref name="probe"/> every <paramref name="interval"/> until it returns non-null; throws after <paramref name="timeout"/>.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, TimeSpan interval, string what, CancellationToken cancellationToken)
        where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await probe() is { } value) return value;
            if (DateTime.UtcNow >= deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds:0.#} s waiting for {what}");
            await Task.Delay(interval, cancellationToken);
        }
    }
}
