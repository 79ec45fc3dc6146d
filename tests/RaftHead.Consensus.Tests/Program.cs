using Microsoft.Extensions.Logging;
using RaftHead.Consensus.Tests.Cluster;

namespace RaftHead.Consensus.Tests;

/// <summary>
/// Entry point used only when a test runs this assembly as a child process
/// (<c>dotnet RaftHead.Consensus.Tests.dll raft-node --id N ...</c>) to be killed; the test host never calls it.
/// The node prints <c>ready</c> on stdout once it serves, logs to stderr, and shuts down cleanly when its
/// stdin closes (so it never outlives a parent that died without killing it).
/// <c>sim-hunt</c> runs the simulator over seeds until one fails (see <see cref="Simulation.SimulatorHunt"/>).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "raft-node")
        {
            var options = NodeHostOptions.Parse(args);
            using var loggerFactory = LoggerFactory.Create(logging => logging
                .SetMinimumLevel(LogLevel.Information)
                .AddSimpleConsole(console =>
                {
                    console.SingleLine = true;
                    console.TimestampFormat = "HH:mm:ss.fff ";
                })
                .AddFilter("Microsoft", LogLevel.Warning)
                .AddFilter("Grpc", LogLevel.Warning));
            await using var host = await RaftNodeHost.StartAsync(options, loggerFactory, CancellationToken.None);
            await Console.Out.WriteLineAsync("ready");
            await Console.Out.FlushAsync();
            // Runs until the parent closes our stdin (or kills us).
            await Console.In.ReadToEndAsync();
            return 0;
        }

        if (args.Length > 0 && args[0] == "sim-hunt") return Simulation.SimulatorHunt.Run(args[1..]);

        await Console.Error.WriteLineAsync("usage: raft-node --id N --port P --members 1=host:port,... --data DIR --tick-ms T --election-ticks E --heartbeat-ticks H --snapshot-entries S [--stage-clock]");
        return 2;
    }
}
