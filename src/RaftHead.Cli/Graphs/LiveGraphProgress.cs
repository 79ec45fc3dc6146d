using RaftHead.Protocol.V1;
using Spectre.Console;

namespace RaftHead.Cli.Graphs;

/// <summary>A live progress bar on a terminal: done of total, the counts, the rate and the time left.</summary>
internal sealed class LiveGraphProgress : IGraphProgress
{
    private readonly IAnsiConsole _console;
    private readonly TimeProvider _time;

    public LiveGraphProgress(IAnsiConsole console, TimeProvider time)
    {
        _console = console;
        _time = time;
    }

    public Task RunAsync(int total, Func<Action<GraphEvent>, Action<long>, Task> watch)
    {
        var started = _time.GetTimestamp();
        return _console.Progress()
            .AutoClear(false)
            .Columns(new SpinnerColumn(), new ProgressBarColumn(), new PercentageColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .StartAsync(async context =>
            {
                var task = context.AddTask("starting", maxValue: Math.Max(total, 1));
                var resumes = 0;
                await watch(
                    change =>
                    {
                        var tally = GraphTally.From(change.Counts ?? new GraphCounts(), total);
                        var elapsed = _time.GetElapsedTime(started);
                        var failed = tally.Failed > 0 ? $"[red]failed {tally.Failed}[/]" : "failed 0";
                        task.Description = Markup.Escape($"done {tally.Done}/{total} (cached {tally.Cached}), running {tally.Running}, queued {tally.Queued}, ")
                            + failed
                            + Markup.Escape($", {tally.Rate(elapsed):0.0}/s, ETA {GraphTally.Format(tally.Eta(elapsed))}")
                            + (resumes > 0 ? $" [grey](resumed {resumes}x)[/]" : "");
                        task.Value = tally.Finished;
                    },
                    _ => resumes++).ConfigureAwait(false);
                task.StopTask();
            });
    }
}
