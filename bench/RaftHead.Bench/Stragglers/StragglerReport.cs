using System.Globalization;
using System.Runtime;
using System.Text;
using RaftHead.Bench.Storage;

namespace RaftHead.Bench.Stragglers;

/// <summary>The straggler issue's goal against one <c>stragglers</c> run's figures, as markdown.</summary>
internal static class StragglerReport
{
    /// <summary>With speculation on, total time within this factor of the run without a straggler.</summary>
    public const double GoalRatioMax = 1.2;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string ToMarkdown(StragglerOptions options, List<StragglerRound> rounds, string commandLine, DateTimeOffset startedUtc, TimeSpan wall, string machineNote, string loadAtEnd)
    {
        var md = new StringBuilder();
        md.AppendLine(Inv, $"Command: `{commandLine}`  ");
        md.AppendLine(Inv, $"Date: {startedUtc:yyyy-MM-dd HH:mm} UTC, {wall.TotalMinutes:0.0} min wall time  ");
        md.AppendLine(Inv, $"Machine: {machineNote}; load average {loadAtEnd} at the end; .NET {Environment.Version}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC.  ");
        md.AppendLine(Inv, $"Setup: per case and round a fresh `HeadNode` (execution on, the case's `FrontendOptions.Speculation`) and workers of 1 slot (lease-ahead {options.LeaseAhead}) composed as `rh worker` composes them, in one process on 127.0.0.1. ");
        md.AppendLine(Inv, $"{options.Actions} actions of one shell Command (one class) sleeping {options.RunMs} ms, or {options.RunMs * options.SlowFactor} ms on the worker named `slow`, each with its own input file; {options.WarmupActions} warm-up actions on normal workers before the fourth worker joins (not counted); then all {options.Actions} submitted at once ({options.Concurrency} concurrent Execute calls). ");
        md.AppendLine(Inv, $"Wall: first Execute call to last result. Latency: one Execute call to its done Operation. Clones and wasted worker time: the head's `GetNodeStatus.speculation` after the last result (wasted = lease to winning result of each losing run{(options.LeaseAhead > 0 ? "; a losing lease held ahead counts from its lease, though it waited behind another run for part of that" : "")}). {options.Rounds} round{(options.Rounds == 1 ? "" : "s")}, cases interleaved; a ratio is taken within a round, then the median over rounds{(options.Rounds == 2 ? " (of 2, their mean)" : "")}.");
        md.AppendLine();

        var letters = rounds.Select(r => r.Case.Letter).Distinct().ToList();
        Goal(md, rounds, letters);
        Summary(md, rounds, letters);
        PerRound(md, rounds);
        return md.ToString();
    }

    private static string F(double value, string format = "0.00") =>
        double.IsNaN(value) || double.IsInfinity(value) ? "—" : value.ToString(format, Inv);

    /// <summary>Per round, the case's wall time over the reference case's in the same round; the median over rounds.</summary>
    private static double Ratio(List<StragglerRound> rounds, char letter, char reference) =>
        Latencies.Median(rounds.Where(r => r.Case.Letter == letter).Select(r =>
            rounds.FirstOrDefault(x => x.Round == r.Round && x.Case.Letter == reference) is { } b ? r.WallMs / b.WallMs : double.NaN));

    private static void Goal(StringBuilder md, List<StragglerRound> rounds, List<char> letters)
    {
        md.AppendLine(Inv, $"#### Goal: with speculation on, total time within {(GoalRatioMax - 1) * 100:0}% of the run without a straggler");
        md.AppendLine();
        md.AppendLine("| case | wall / (a) 4 normal | met vs (a) | wall / (b) 3 normal | met vs (b) |");
        md.AppendLine("|---|---:|---|---:|---|");
        foreach (var letter in letters.Where(l => l is 'c' or 'd' or 'e'))
        {
            var title = rounds.First(r => r.Case.Letter == letter).Case.Title;
            var a = Ratio(rounds, letter, 'a');
            var b = Ratio(rounds, letter, 'b');
            md.AppendLine(Inv, $"| ({letter}) {title} | {F(a)} | {Met(a)} | {F(b)} | {Met(b)} |");
        }

        md.AppendLine();
    }

    private static string Met(double ratio) => double.IsNaN(ratio) ? "—" : ratio <= GoalRatioMax ? "**yes**" : "**no**";

    private static void Summary(StringBuilder md, List<StragglerRound> rounds, List<char> letters)
    {
        md.AppendLine("#### Per case (median of rounds; a count is the rounds' total)");
        md.AppendLine();
        md.AppendLine("| case | wall s | p50 latency s | p99 latency s | max latency s | results from slow | clones started | clones won | wasted worker s | errors |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var letter in letters)
        {
            var of = rounds.Where(r => r.Case.Letter == letter).ToList();
            md.AppendLine(Inv, $"| ({letter}) {of[0].Case.Title} | {F(Latencies.Median(of.Select(r => r.WallMs)) / 1000)} | {F(Latencies.Median(of.Select(r => r.P50Ms)) / 1000)} | {F(Latencies.Median(of.Select(r => r.P99Ms)) / 1000)} | {F(Latencies.Median(of.Select(r => r.MaxMs)) / 1000)} | {of.Sum(r => r.ResultsFromSlow)} | {of.Sum(r => r.ClonesStarted)} | {of.Sum(r => r.ClonesWon)} | {F(of.Sum(r => r.WastedWorkerMs) / 1000.0, "0.0")} | {of.Sum(r => r.Errors)} |");
        }

        md.AppendLine();
    }

    private static void PerRound(StringBuilder md, List<StragglerRound> rounds)
    {
        md.AppendLine("#### Every round, in the order run");
        md.AppendLine();
        md.AppendLine("| round | case | wall s | p50 s | p99 s | max s | from slow | clones started / won | wasted worker s | non-determinism reports | errors |");
        md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in rounds)
        {
            var errors = r.Errors == 0 ? "0" : $"{r.Errors} (first: {r.FirstError.Replace('|', '/')})";
            md.AppendLine(Inv, $"| {r.Round} | ({r.Case.Letter}) | {F(r.WallMs / 1000)} | {F(r.P50Ms / 1000)} | {F(r.P99Ms / 1000)} | {F(r.MaxMs / 1000)} | {r.ResultsFromSlow} | {r.ClonesStarted} / {r.ClonesWon} | {F(r.WastedWorkerMs / 1000.0, "0.0")} | {r.NondeterminismReports} | {errors} |");
        }

        md.AppendLine();
    }
}
