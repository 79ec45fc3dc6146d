namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>One test node: who it is, where it listens, who its peers are, how fast its clock ticks.</summary>
public sealed record NodeHostOptions
{
    public required long Id { get; init; }

    public required int Port { get; init; }

    /// <summary>Every founding member (including this node), id to <c>host:port</c>.</summary>
    public required IReadOnlyDictionary<long, string> Members { get; init; }

    public required string DataDirectory { get; init; }

    // Fine ticks: the election timeout is drawn in whole ticks from [ElectionTicks, 2*ElectionTicks), so 30 ticks of
    // 10 ms give 30 distinct timeouts between 300 and 600 ms; with only 10 coarse ticks two survivors often drew
    // the same one and split the vote.
    public int TickMs { get; init; } = 10;

    public int ElectionTicks { get; init; } = 30;

    public int HeartbeatTicks { get; init; } = 5;

    public long SnapshotThresholdEntries { get; init; } = 10_000;

    /// <summary>The driver's request queue bound; null keeps the driver's default. In-process hosts only.</summary>
    public int? RequestQueueCapacity { get; init; }

    /// <summary>Log where each write's time goes (<see cref="Cluster.StageClock"/>); diagnostic, off for measurements.</summary>
    public bool StageClock { get; init; }

    public int ElectionTimeoutMs => TickMs * ElectionTicks;

    public string[] ToArguments() =>
    [
        "raft-node",
        "--id", Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--members", string.Join(",", Members.Select(m => $"{m.Key}={m.Value}")),
        "--data", DataDirectory,
        "--tick-ms", TickMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--election-ticks", ElectionTicks.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--heartbeat-ticks", HeartbeatTicks.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--snapshot-entries", SnapshotThresholdEntries.ToString(System.Globalization.CultureInfo.InvariantCulture),
        .. StageClock ? (string[])["--stage-clock"] : [],
    ];

    public static NodeHostOptions Parse(IReadOnlyList<string> args)
    {
        string Value(string name)
        {
            for (var i = 0; i + 1 < args.Count; i++)
            {
                if (args[i] == name) return args[i + 1];
            }
            throw new ArgumentException($"missing {name}");
        }

        var members = Value("--members").Split(',')
            .Select(part => part.Split('=', 2))
            .ToDictionary(p => long.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), p => p[1]);
        return new NodeHostOptions
        {
            Id = long.Parse(Value("--id"), System.Globalization.CultureInfo.InvariantCulture),
            Port = int.Parse(Value("--port"), System.Globalization.CultureInfo.InvariantCulture),
            Members = members,
            DataDirectory = Value("--data"),
            TickMs = int.Parse(Value("--tick-ms"), System.Globalization.CultureInfo.InvariantCulture),
            ElectionTicks = int.Parse(Value("--election-ticks"), System.Globalization.CultureInfo.InvariantCulture),
            HeartbeatTicks = int.Parse(Value("--heartbeat-ticks"), System.Globalization.CultureInfo.InvariantCulture),
            SnapshotThresholdEntries = long.Parse(Value("--snapshot-entries"), System.Globalization.CultureInfo.InvariantCulture),
            StageClock = args.Contains("--stage-clock"),
        };
    }
}
