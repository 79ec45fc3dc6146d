namespace RaftHead.Bench.Execution;

/// <summary>
/// The execution benchmark: per-action overhead of a no-op Execute next to the process start itself, then input
/// materialisation of a large tree, hard links against copies. One process, one run.
/// </summary>
internal sealed class ExecScenario
{
    private readonly ExecOptions _options;
    private readonly TextWriter _progress;

    public ExecScenario(ExecOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
    }

    public async Task<ExecResults> RunAsync(CancellationToken cancellationToken)
    {
        var results = new ExecResults();
        if (!_options.SkipExecute)
        {
            results = await new ExecutePhase(_options, _progress).RunAsync(cancellationToken).ConfigureAwait(false);
        }

        if (!_options.SkipMaterialize)
        {
            results = await new MaterializePhase(_options, _progress).RunAsync(results, cancellationToken).ConfigureAwait(false);
        }

        return results;
    }
}
