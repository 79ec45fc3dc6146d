using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;

namespace RaftHead.Consensus.Driver;

/// <summary>
/// The driver's snapshot in flight: at most one, serialized from its capture and made durable
/// (<see cref="IRaftStorage.PrepareSnapshot"/>) on a thread of its own, so the loop goes on committing meanwhile.
/// Loop-owned: <see cref="Start"/>, <see cref="TryTake"/> and <see cref="StopAsync"/> are called by the loop only;
/// the finished write wakes the loop, which then compacts the log to it.
/// </summary>
internal sealed class BackgroundSnapshot(IRaftStorage storage, Action wakeLoop)
{
    private Task<Built>? _running;

    /// <summary>A snapshot is being written; the next one waits for it (back-pressure).</summary>
    public bool Busy => _running is not null;

    public void Start(SnapshotMetadata metadata, IStateMachineSnapshot capture)
    {
        if (_running is not null) throw new InvalidOperationException("A snapshot is already being written.");
        // A dedicated thread: writing a large state blocks for its whole length, and the loop itself runs on the pool.
        _running = Task.Factory.StartNew(() => Build(metadata, capture), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _running.ContinueWith(static (_, wake) => ((Action)wake!)(), wakeLoop, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The finished snapshot, once durable; false while it is still being written or when none was started. Rethrows the write's failure.</summary>
    public bool TryTake([NotNullWhen(true)] out Snapshot? snapshot, out TimeSpan elapsed)
    {
        snapshot = null;
        elapsed = default;
        if (_running is not { IsCompleted: true } done) return false;
        _running = null;
        // Completed, so this does not block; it rethrows the original exception.
        var built = done.GetAwaiter().GetResult();
        snapshot = built.Snapshot;
        elapsed = built.Elapsed;
        return true;
    }

    /// <summary>Waits for a write in flight to end, so nothing writes into the log's directory after the node stopped.</summary>
    public async Task StopAsync()
    {
        if (_running is not { } running) return;
        _running = null;
        // Dropped either way: the node stops, and an unrecorded snapshot file is an orphan the next open removes.
        await ((Task)running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private Built Build(SnapshotMetadata metadata, IStateMachineSnapshot capture)
    {
        var started = Stopwatch.GetTimestamp();
        using var buffer = new MemoryStream();
        capture.WriteTo(buffer);
        // The log keeps the snapshot in memory (the leader sends it from there), so it is held exactly sized.
        var snapshot = new Snapshot(metadata, buffer.ToArray());
        storage.PrepareSnapshot(snapshot);
        return new Built(snapshot, Stopwatch.GetElapsedTime(started));
    }

    private sealed record Built(Snapshot Snapshot, TimeSpan Elapsed);
}
