using System.Globalization;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Graphs;

/// <summary>A graph's counts as a person reads them: done (of which cached), running, queued, failed; with rate and ETA.</summary>
internal readonly record struct GraphTally(int Total, int Done, int Cached, int Running, int Queued, int Failed, int Cancelled)
{
    public static GraphTally From(GraphCounts counts, int total) => new(
        total,
        (int)(counts.Completed + counts.Cached),
        (int)counts.Cached,
        (int)counts.Running,
        (int)(counts.Waiting + counts.Ready + counts.Queued),
        (int)counts.Failed,
        (int)counts.Cancelled);

    public int Finished => Done + Failed + Cancelled;

    /// <summary>Nodes finished per second since <paramref name="elapsed"/> began; 0 before the first.</summary>
    public double Rate(TimeSpan elapsed) => elapsed.TotalSeconds > 0 ? Finished / elapsed.TotalSeconds : 0;

    /// <summary>The time left at the rate so far, or null before anything finished.</summary>
    public TimeSpan? Eta(TimeSpan elapsed)
    {
        var rate = Rate(elapsed);
        return rate > 0 ? TimeSpan.FromSeconds((Total - Finished) / rate) : null;
    }

    public static string Phase(GraphNodePhase phase) => phase switch
    {
        GraphNodePhase.Waiting => "waiting",
        GraphNodePhase.Ready => "ready",
        GraphNodePhase.Queued => "queued",
        GraphNodePhase.Running => "running",
        GraphNodePhase.Completed => "completed",
        GraphNodePhase.Cached => "cached",
        GraphNodePhase.Failed => "failed",
        GraphNodePhase.Cancelled => "cancelled",
        _ => "unknown",
    };

    public static string Format(TimeSpan? span) => span is not { } s
        ? "?"
        : s.TotalHours >= 1
            ? s.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture)
            : s.ToString(@"m\:ss", CultureInfo.InvariantCulture);
}
