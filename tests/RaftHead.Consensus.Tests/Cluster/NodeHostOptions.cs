namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>One test node: who it is, where it listens, who its peers are, how fast its clock ticks.</summary>
public sealed record NodeHostOptions
{
    public required long Id { get; init; }

    public required int Port { get; init; }

    /// <summary>Every founding member (including this node), id to <c>host:port</c>.</summary>
    public required IReadOnlyDictionary<long, string> Members { get; init; }

    public required string DataDirectory { get; init; }

    public int TickMs { get; init; } = 50;

    public int ElectionTicks { get; init; } = 10;

    public long SnapshotThresholdEntries { get; init; } = 10_000;

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
        "--snapshot-entries", SnapshotThresholdEntries.ToString(System.Globalization.CultureInfo.InvariantCulture),
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
            SnapshotThresholdEntries = long.Parse(Value("--snapshot-entries"), System.Globalization.CultureInfo.InvariantCulture),
        };
    }
}
