namespace RaftHead.Bench.Storage;

/// <summary>
/// The storage benchmark: index memory, CAS throughput (with raw SHA-256 alongside), FindMissing and
/// GetActionResult latency against Redis, in one process and one run. Index memory goes first, so that its
/// resident-set figure is taken in a process that has not yet grown for the other phases.
/// </summary>
internal sealed class StorageScenario
{
    private readonly StorageOptions _options;
    private readonly TextWriter _progress;

    public StorageScenario(StorageOptions options, TextWriter progress)
    {
        _options = options;
        _progress = progress;
    }

    public async Task<StorageResults> RunAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<IndexMemoryRow> index = [];
        if (!_options.SkipIndexMemory)
        {
            index = await new IndexMemoryPhase(_options, _progress).RunAsync(cancellationToken).ConfigureAwait(false);

            // The closing checkpoints leave GBs of dirty pages; let writeback finish so the CAS phase's fsyncs do not pay for it.
            await SettleAsync(cancellationToken).ConfigureAwait(false);
        }

        var cas = new CasPhase(_options, _progress);
        var casRows = await cas.RunAsync(cancellationToken).ConfigureAwait(false);
        await SettleAsync(cancellationToken).ConfigureAwait(false);
        var lookups = await new LookupPhase(_options, _progress).RunAsync(cancellationToken).ConfigureAwait(false);
        return new StorageResults(index, casRows, cas.FsyncOf4KiBAppendUs, lookups);
    }

    private async Task SettleAsync(CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using (var sync = System.Diagnostics.Process.Start("sync"))
        {
            if (sync is not null)
            {
                await sync.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
        _progress.WriteLine($"settle: sync took {clock.Elapsed.TotalSeconds:0.0} s (with a 2 s pause)");
    }
}
