using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace RaftHead.Cli;

/// <summary>
/// What the long-running commands (serve, head, worker) log: one line per event on stdout, with a UTC time, from
/// RaftHead's own components at Information and up; ASP.NET Core's and gRPC's own chatter only from Warning up.
/// </summary>
internal static class CliLogging
{
    public static ILoggerFactory Create() => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(LogLevel.Information)
        .AddFilter("Microsoft", LogLevel.Warning)
        .AddFilter("Grpc", LogLevel.Warning)
        .AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.UseUtcTimestamp = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
            console.ColorBehavior = LoggerColorBehavior.Disabled;
        }));
}
