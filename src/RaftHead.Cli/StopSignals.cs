using System.Runtime.InteropServices;

namespace RaftHead.Cli;

/// <summary>SIGTERM and SIGINT (Ctrl+C) of a long-running command (`serve`, `worker`) become a clean stop.</summary>
internal static class StopSignals
{
    /// <summary>Held for the life of the process: a collected registration would stop absorbing signals.</summary>
    private static PosixSignalRegistration[]? Registrations { get; set; }

    /// <summary>
    /// Cancels <paramref name="stop"/> on SIGTERM or SIGINT. The handlers stay registered until the process exits
    /// (never disposed), so a second signal while the command is stopping is absorbed and the clean stop finishes.
    /// </summary>
    public static void Route(CancellationTokenSource stop) =>
        Registrations = new[]
        {
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => RequestStop(context, stop)),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, context => RequestStop(context, stop)),
        };

    private static void RequestStop(PosixSignalContext context, CancellationTokenSource stop)
    {
        context.Cancel = true;
        try
        {
            stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The command has already returned; the process is on its way out.
        }
    }
}
