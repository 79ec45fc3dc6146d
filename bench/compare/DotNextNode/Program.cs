using System.Globalization;
using System.Net;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.Membership;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RaftHead.Compare.DotNextNode;

/// <summary>
/// One DotNext Raft node for the comparison: DotNext's <see cref="RaftCluster"/> over its TCP transport, its
/// <see cref="WriteAheadLog"/> on the data directory, an in-memory key-value state machine, and the same gRPC control
/// API as our node host (<c>rafthead.test.v1.Control</c>) on a second port. Prints <c>ready</c> once serving and
/// stops when stdin closes.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        NodeOptions options;
        try
        {
            options = NodeOptions.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            await Console.Error.WriteLineAsync("usage: DotNextNode --id N --port CONTROL --members 1=127.0.0.1:RAFT,... --data DIR --election-ms LOWER,UPPER --snapshot-entries S");
            return 2;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.ControlPort, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();

        Directory.CreateDirectory(options.DataDirectory);
        var store = new KvStateMachine(new DirectoryInfo(Path.Combine(options.DataDirectory, "snapshots")), options.SnapshotEntries);
        await store.RestoreAsync(CancellationToken.None);
        var walOptions = new WriteAheadLog.Options
        {
            Location = Path.Combine(options.DataDirectory, "wal"),
            // Its defaults. FlushOnCommit and FlushInterval are obsolete in this version ("always true", "no effect"):
            // the log is flushed when entries commit, which on a follower is after it acknowledged them. No setting
            // makes a follower flush before it acknowledges.
        };
        var wal = new WriteAheadLog(walOptions, store);
        var raft = new RaftCluster.TcpConfiguration(options.Members[options.Id])
        {
            ColdStart = false,
            LowerElectionTimeout = options.LowerElectionMs,
            UpperElectionTimeout = options.UpperElectionMs,
            ConfigurationStorage = null,
        };
        var members = ((InMemoryClusterConfigurationStorage<EndPoint>)raft.ConfigurationStorage!).CreateInitialConfigurationBuilder();
        foreach (var endpoint in options.Members.Values) members.Add(endpoint);
        members.Build();
        var cluster = new RaftCluster(raft) { AuditTrail = wal };

        builder.Services.AddSingleton(new ControlService(options, cluster, wal, store));
        await using var app = builder.Build();
        app.MapGrpcService<ControlService>();
        await cluster.StartAsync(CancellationToken.None);
        await app.StartAsync();
        await Console.Out.WriteLineAsync("ready");
        await Console.Out.FlushAsync();
        await Console.In.ReadToEndAsync();
        await app.StopAsync();
        await cluster.StopAsync(CancellationToken.None);
        await cluster.DisposeAsync();
        await wal.DisposeAsync();
        await store.DisposeAsync();
        return 0;
    }
}

/// <summary>The node's command line; members are DotNext Raft (TCP) endpoints, ids 1..N.</summary>
internal sealed record NodeOptions(
    int Id,
    int ControlPort,
    IReadOnlyDictionary<int, IPEndPoint> Members,
    string DataDirectory,
    int LowerElectionMs,
    int UpperElectionMs,
    long SnapshotEntries)
{
    public static NodeOptions Parse(IReadOnlyList<string> args)
    {
        string Value(string name)
        {
            for (var i = 0; i + 1 < args.Count; i++)
            {
                if (args[i] == name) return args[i + 1];
            }
            throw new ArgumentException($"missing {name}");
        }

        static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);
        var members = Value("--members").Split(',')
            .Select(part => part.Split('=', 2))
            .ToDictionary(p => Int(p[0]), p => IPEndPoint.Parse(p[1]));
        var election = Value("--election-ms").Split(',');
        return new NodeOptions(
            Int(Value("--id")),
            Int(Value("--port")),
            members,
            Value("--data"),
            Int(election[0]),
            Int(election[1]),
            long.Parse(Value("--snapshot-entries"), CultureInfo.InvariantCulture));
    }
}
