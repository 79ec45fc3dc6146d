using System.Globalization;
using System.Text.RegularExpressions;

namespace RaftHead.IntegrationTests.Bazel;

/// <summary>
/// Bazel's per-build line that says how each spawned process ran, e.g. (Bazel 4.2.3)
/// <c>INFO: 20 processes: 9 internal, 11 linux-sandbox.</c> or
/// <c>INFO: 20 processes: 11 remote cache hit, 9 internal.</c>. "internal" processes are Bazel's own
/// bookkeeping (symlink trees, params files, the workspace status) and never reach a cache or a sandbox.
/// </summary>
public sealed partial class BazelProcessSummary
{
    public const string RemoteCacheHit = "remote cache hit";
    public const string Internal = "internal";

    private BazelProcessSummary(string line, int total, IReadOnlyDictionary<string, int> byKind)
    {
        Line = line;
        Total = total;
        ByKind = byKind;
    }

    /// <summary>The line as Bazel printed it.</summary>
    public string Line { get; }

    public int Total { get; }

    /// <summary>Count per strategy: "remote cache hit", "internal", "linux-sandbox", "processwrapper-sandbox", "local", ...</summary>
    public IReadOnlyDictionary<string, int> ByKind { get; }

    public int RemoteCacheHits => Count(RemoteCacheHit);

    /// <summary>Processes that ran on this machine: everything but cache hits and Bazel's internal ones.</summary>
    public int RanLocally => ByKind.Where(k => k.Key is not RemoteCacheHit and not Internal).Sum(k => k.Value);

    public int Count(string kind) => ByKind.TryGetValue(kind, out var n) ? n : 0;

    /// <summary>The last summary line in Bazel's output; throws if there is none.</summary>
    public static BazelProcessSummary Parse(string bazelOutput)
    {
        var line = bazelOutput.Split('\n').Select(l => l.TrimEnd('\r')).LastOrDefault(l => SummaryLine().IsMatch(l))
            ?? throw new FormatException($"No 'INFO: N processes: ...' line in Bazel's output:\n{bazelOutput}");
        var match = SummaryLine().Match(line);
        var total = int.Parse(match.Groups["total"].Value, CultureInfo.InvariantCulture);
        var byKind = new Dictionary<string, int>(StringComparer.Ordinal);
        if (match.Groups["parts"].Success)
        {
            foreach (var part in match.Groups["parts"].Value.Split(", "))
            {
                var piece = Part().Match(part);
                if (!piece.Success)
                {
                    throw new FormatException($"Cannot read '{part}' in Bazel's summary line '{line}'");
                }

                var kind = piece.Groups["kind"].Value;
                byKind[kind] = (byKind.TryGetValue(kind, out var n) ? n : 0) + int.Parse(piece.Groups["n"].Value, CultureInfo.InvariantCulture);
            }
        }

        if (byKind.Values.Sum() != total)
        {
            throw new FormatException($"The parts of Bazel's summary line '{line}' do not add up to its total");
        }

        return new BazelProcessSummary(line, total, byKind);
    }

    public override string ToString() => Line;

    [GeneratedRegex(@"^INFO: (?<total>\d+) process(es)?(: (?<parts>.+))?\.$")]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"^(?<n>\d+) (?<kind>.+)$")]
    private static partial Regex Part();
}
