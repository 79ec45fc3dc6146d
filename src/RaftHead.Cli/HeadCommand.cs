using System.CommandLine;
using System.Globalization;
using System.Net;
using RaftHead.Head;
using RaftHead.Protocol;
using RaftHead.Protocol.Client;

namespace RaftHead.Cli;

/// <summary><c>rh head</c>: one replica of a replicated head; workers join it with <c>rh worker</c>.</summary>
internal static class HeadCommand
{
    public static Command Create()
    {
        var id = new Option<long>("--id") { Description = "This replica's id: one of the ids in --peers.", Required = true };
        var peers = new Option<string>("--peers") { Description = "Every replica, this one included: id=host:port, comma-separated (e.g. 1=127.0.0.1:8980,2=127.0.0.1:8981,3=127.0.0.1:8982). The same list on every replica.", Required = true };
        var host = new Option<string>("--host") { Description = "Address to bind.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int?>("--port") { Description = "gRPC port (REAPI, worker protocol, Raft, admin). Default: the port of this replica's entry in --peers." };
        var data = new Option<string?>("--data") { Description = "Data directory (Raft log, CAS). Default: rafthead-head-<id> in the current directory." };
        var casMaxBytes = new Option<long>("--cas-max-bytes") { Description = "CAS size bound; least recently used blobs are evicted beyond it.", DefaultValueFactory = _ => Defaults.CasMaxBytes };
        var head = new Command("head", "Run one replica of a replicated head: REAPI with execution, the worker protocol and the Raft log shared with its peers.");
        head.Options.Add(id);
        head.Options.Add(peers);
        head.Options.Add(host);
        head.Options.Add(port);
        head.Options.Add(data);
        head.Options.Add(casMaxBytes);
        head.SetAction((result, cancellationToken) => CliFailure.RunAsync(result, async () =>
        {
            if (!IPAddress.TryParse(result.GetValue(host), out var address))
            {
                throw new UsageException($"--host '{result.GetValue(host)}' is not an IP address");
            }

            var nodeId = result.GetValue(id);
            var members = ParsePeers(result.GetValue(peers)!);
            if (!members.TryGetValue(nodeId, out var self))
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--id {nodeId} is not one of the ids in --peers ({string.Join(", ", members.Keys)})"));
            }

            var listenPort = result.GetValue(port) ?? GrpcChannels.ParseEndpoint(self).Port;
            if (listenPort is < 1 or > 65535)
            {
                throw new UsageException($"--port {listenPort} is not a port number");
            }

            var options = new HeadNodeOptions
            {
                NodeId = nodeId,
                Members = members,
                Address = address,
                Port = listenPort,
                DataDirectory = Path.GetFullPath(result.GetValue(data) ?? string.Create(CultureInfo.InvariantCulture, $"rafthead-head-{nodeId}")),
                CasMaxBytes = result.GetValue(casMaxBytes),
                ExecutionEnabled = true,
            };

            using var stop = new CancellationTokenSource();
            StopSignals.Route(stop);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);
            using var logging = CliLogging.Create();
            await using var node = await HeadNode.StartAsync(options, linked.Token, logging).ConfigureAwait(false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ready: grpc://{node.Address.Authority} id={nodeId} peers={string.Join(',', members.Values)} data={options.DataDirectory} pid={Environment.ProcessId}"));
            try
            {
                await Task.Delay(Timeout.Infinite, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            Console.WriteLine("stopping");
            return 0;
        }));
        return head;
    }

    /// <summary>Parses <c>id=host:port,...</c>; at least three replicas, as fewer cannot survive a failure.</summary>
    internal static Dictionary<long, string> ParsePeers(string text)
    {
        var members = new Dictionary<long, string>();
        foreach (var entry in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || !long.TryParse(entry.AsSpan(0, equals), NumberStyles.None, CultureInfo.InvariantCulture, out var memberId) || memberId <= 0)
            {
                throw new UsageException($"--peers: '{entry}' is not id=host:port with a positive id");
            }

            var endpoint = entry[(equals + 1)..];
            try
            {
                GrpcChannels.ParseEndpoint(endpoint);
            }
            catch (FormatException e)
            {
                throw new UsageException($"--peers: {e.Message}");
            }

            if (!members.TryAdd(memberId, endpoint))
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--peers names id {memberId} twice"));
            }
        }

        if (members.Count < 3)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--peers names {members.Count} replica(s); a replicated head needs at least 3 (rh serve runs a head alone)"));
        }

        return members;
    }
}
