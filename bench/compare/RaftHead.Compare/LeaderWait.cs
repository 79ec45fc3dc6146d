namespace RaftHead.Compare;

internal static class LeaderWait
{
    /// <summary>Asks every member until one is leader; throws after <paramref name="timeout"/>.</summary>
    public static async Task<int> ForAsync(IClusterUnderTest cluster, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await cluster.FindLeaderAsync(cancellationToken) is { } leader) return leader;
            if (DateTime.UtcNow >= deadline) throw new TimeoutException($"{cluster.Name}: no leader within {timeout.TotalSeconds:0.#} s");
            await Task.Delay(20, cancellationToken);
        }
    }
}
