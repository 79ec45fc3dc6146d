using System.Diagnostics;
using Grpc.Core;
using RaftHead.Protocol;

namespace RaftHead.Cli;

/// <summary>
/// A read that a head refuses because no leader is known is asked again while an election runs: one line on stderr
/// says so, and the call's own failure is what the command reports if no leader appears within the window.
/// </summary>
internal static class NoLeaderRetry
{
    /// <summary>Several election timeouts: a cluster that elects nobody in this long needs a person, not a retry.</summary>
    public const int WindowMs = 15_000;

    private const int PollIntervalMs = 250;

    public const string RetryingLine = "rh: no leader yet; retrying";

    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var started = Stopwatch.GetTimestamp();
        var told = false;
        while (true)
        {
            try
            {
                return await call(cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e) when (LeaderHint.IsNoLeader(e) && Stopwatch.GetElapsedTime(started).TotalMilliseconds < WindowMs)
            {
                if (!told)
                {
                    told = true;
                    await Console.Error.WriteLineAsync(RetryingLine).ConfigureAwait(false);
                }
            }

            await Task.Delay(PollIntervalMs, cancellationToken).ConfigureAwait(false);
        }
    }
}
