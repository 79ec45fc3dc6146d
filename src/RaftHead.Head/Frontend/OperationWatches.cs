using System.Collections.Concurrent;
using RaftHead.Head.Scheduling;

namespace RaftHead.Head.Frontend;

/// <summary>
/// A signal per watched operation, pulsed only when that operation changes. One watcher looks at each applied state
/// and compares the watched operations' ChangedVersion with what it saw; an Execute or
/// WaitExecution stream waits on its operation's signal. Without this every stream woke on every apply to find, almost
/// always, that its operation had not changed: with many clients, most of a head's wake-ups.
/// </summary>
public sealed class OperationWatches
{
    private readonly ConcurrentDictionary<string, Watched> _watched = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private int _watching;

    /// <summary>Operations watched now.</summary>
    public int Count => _watched.Count;

    /// <summary>
    /// Registers a stream's interest in <paramref name="name"/> until disposed. Take <see cref="OperationWatch.Next"/>
    /// before reading the state: it completes when a later state changes the operation (or drops it).
    /// </summary>
    public OperationWatch Watch(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_gate)
        {
            var watched = _watched.GetOrAdd(name, static _ => new Watched());
            watched.Streams++;
            return new OperationWatch(this, name, watched);
        }
    }

    /// <summary>
    /// Pulses the signal of each watched operation whose version differs from the one this method saw for it last.
    /// Called by one watcher at a time (<see cref="Start"/>, or a test).
    /// </summary>
    public void WakeChanges(SchedulerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        foreach (var (name, watched) in _watched)
        {
            var version = state.FindOperation(name)?.ChangedVersion ?? Gone;
            if (version != watched.SeenVersion)
            {
                watched.SeenVersion = version;
                watched.Feed.Pulse();
            }
        }
    }

    /// <summary>Starts the watcher behind <see cref="WakeChanges"/> once: it looks at every applied state.</summary>
    public void Start(ISchedulerLog log, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (Interlocked.Exchange(ref _watching, 1) == 0)
        {
            _ = Task.Run(() => AppliedStates.FollowAsync(log, WakeChanges, stopping), CancellationToken.None);
        }
    }

    private const long Gone = long.MinValue;

    private void Release(string name, Watched watched)
    {
        lock (_gate)
        {
            if (--watched.Streams == 0)
            {
                _watched.TryRemove(new KeyValuePair<string, Watched>(name, watched));
            }
        }
    }

    public sealed class OperationWatch : IDisposable
    {
        private readonly OperationWatches _owner;
        private readonly string _name;
        private Watched? _watched;

        internal OperationWatch(OperationWatches owner, string name, Watched watched)
        {
            _owner = owner;
            _name = name;
            _watched = watched;
        }

        /// <summary>Completes at the next change of the operation after it is taken.</summary>
        public Task Next => (_watched ?? throw new ObjectDisposedException(nameof(OperationWatch))).Feed.Next;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _watched, null) is { } watched)
            {
                _owner.Release(_name, watched);
            }
        }
    }

    internal sealed class Watched
    {
        /// <summary>Streams waiting on this operation (changed under the owner's gate).</summary>
        public int Streams;

        /// <summary>The operation's version as the watcher saw it last; a new entry starts unseen, so its first look wakes it.</summary>
        public long SeenVersion = Gone + 1;

        public ChangeFeed Feed { get; } = new();
    }
}
