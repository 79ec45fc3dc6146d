using RaftHead.Rpc;

namespace RaftHead.Cli;

/// <summary>Every command fails the same way: one line naming the reason on stderr, and a non-zero exit code.</summary>
internal static class CliFailure
{
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    public const int ExitUnavailable = 3;

    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            await Console.Error.WriteLineAsync($"rh: {e.Status.Detail}").ConfigureAwait(false);
            return ExitUnavailable;
        }
        catch (RpcException e)
        {
            await Console.Error.WriteLineAsync($"rh: {e.StatusCode}: {e.Status.Detail}").ConfigureAwait(false);
            return ExitFailure;
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"rh: {e.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (OperationCanceledException)
        {
            return ExitFailure;
        }
    }
}
