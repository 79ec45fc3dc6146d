using System.Diagnostics;

namespace RaftHead.IntegrationTests;

/// <summary>How a test lets go of a child process: SIGTERM, a bounded wait, then the whole tree killed; always disposed.</summary>
internal static class ProcessStop
{
    public static async ValueTask TerminateAndDisposeAsync(Process process, TimeSpan grace)
    {
        try
        {
            if (!process.HasExited)
            {
                PosixSignals.Terminate(process.Id);
                using var cts = new CancellationTokenSource(grace);
                try
                {
                    await process.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync(CancellationToken.None);
                }
            }
        }
        catch (InvalidOperationException)
        {
            // Never started, or already reaped.
        }
        finally
        {
            process.Dispose();
        }
    }
}
