using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Tests.Cluster;

/// <summary>
/// Where one write's time goes inside a node (the node host's <c>--stage-clock</c>): timestamps per log index at
/// each hand-off the host can see from outside the driver, through decorators of its storage, transport, state
/// machine and receive path. Every <see cref="ReportEvery"/> completed puts it logs the median of each stage.
/// Diagnostic only: it allocates and locks, so benchmark numbers are taken without it.
/// </summary>
/// <remarks>
/// Leader stages of a put: control call in → entry appended (the driver's queue and loop wake-up) → fsync done →
/// append sent to the transport → first follower acknowledgement received → applied (commit noticed by the loop and
/// applied) → reply (the caller's continuation). Follower stages: append received → appended → fsync done →
/// acknowledgement sent.
/// </remarks>
public sealed class StageClock
{
    public const int ReportEvery = 500;

    private const int Slots = 1 << 16;

    private static readonly string[] LeaderStages = ["queue+wake", "append", "fsync", "to send", "replicate (network+follower)", "commit+apply", "reply"];
    private static readonly string[] FollowerStages = ["received→appended", "fsync", "to ack sent"];

    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private readonly long[] _appendStarted = new long[Slots];
    private readonly long[] _appended = new long[Slots];
    private readonly long[] _synced = new long[Slots];
    private readonly long[] _sent = new long[Slots];
    private readonly long[] _acked = new long[Slots];
    private readonly long[] _applied = new long[Slots];
    private readonly long[] _received = new long[Slots];
    private readonly List<double>[] _leader = LeaderStages.Select(_ => new List<double>()).ToArray();
    private readonly List<double>[] _follower = FollowerStages.Select(_ => new List<double>()).ToArray();
    private readonly List<double> _total = new();
    private long _unsyncedFrom = long.MaxValue;
    private long _unsyncedTo;
    private long _ackedThrough;

    public StageClock(ILogger logger) => _logger = logger;

    private static long Now => Stopwatch.GetTimestamp();

    public IRaftStorage Wrap(IRaftStorage storage) => new TimedStorage(storage, this);

    public IRaftTransport Wrap(IRaftTransport transport) => new TimedTransport(transport, this);

    public IStateMachine Wrap(IStateMachine stateMachine) => new TimedStateMachine(stateMachine, this);

    /// <summary>A message handed to the driver from a peer.</summary>
    public void OnReceived(Message message)
    {
        var now = Now;
        lock (_gate)
        {
            if (message.Type == MessageType.Append)
            {
                foreach (var e in message.Entries) _received[Slot(e.Index)] = now;
            }
            else if (message.Type == MessageType.AppendResponse && !message.Reject && message.Index > _ackedThrough)
            {
                // The first acknowledgement of each index is the one that (with ours) makes a majority of three.
                for (var i = Math.Max(_ackedThrough + 1, message.Index - Slots + 1); i <= message.Index; i++)
                {
                    if (_acked[Slot(i)] == 0) _acked[Slot(i)] = now;
                }
                _ackedThrough = message.Index;
            }
        }
    }

    /// <summary>A put completed at the control API: <paramref name="start"/> is when its call came in.</summary>
    public void OnReplied(long index, long start)
    {
        var now = Now;
        lock (_gate)
        {
            var s = Slot(index);
            long[] marks = [start, _appendStarted[s], _appended[s], _synced[s], _sent[s], _acked[s], _applied[s], now];
            Clear(s);
            if (marks.Any(m => m == 0)) return;
            for (var i = 0; i < _leader.Length; i++) _leader[i].Add(Ms(marks[i], marks[i + 1]));
            _total.Add(Ms(start, now));
            if (_total.Count >= ReportEvery) Report();
        }
    }

    private void OnAppend(IReadOnlyList<LogEntry> entries, long started, long done)
    {
        lock (_gate)
        {
            foreach (var e in entries)
            {
                var s = Slot(e.Index);
                _appendStarted[s] = started;
                _appended[s] = done;
                _unsyncedFrom = Math.Min(_unsyncedFrom, e.Index);
                _unsyncedTo = Math.Max(_unsyncedTo, e.Index);
            }
        }
    }

    private void OnSynced()
    {
        var now = Now;
        lock (_gate)
        {
            if (_unsyncedFrom > _unsyncedTo) return;
            for (var i = _unsyncedFrom; i <= _unsyncedTo; i++) _synced[Slot(i)] = now;
            _unsyncedFrom = long.MaxValue;
            _unsyncedTo = 0;
        }
    }

    private void OnSend(Message message)
    {
        var now = Now;
        lock (_gate)
        {
            if (message.Type == MessageType.Append)
            {
                foreach (var e in message.Entries)
                {
                    if (_sent[Slot(e.Index)] == 0) _sent[Slot(e.Index)] = now;
                }
            }
            else if (message.Type == MessageType.AppendResponse && !message.Reject)
            {
                // A follower's acknowledgement: its stages end here.
                var s = Slot(message.Index);
                if (_received[s] != 0 && _appended[s] != 0 && _synced[s] != 0)
                {
                    _follower[0].Add(Ms(_received[s], _appended[s]));
                    _follower[1].Add(Ms(_appended[s], _synced[s]));
                    _follower[2].Add(Ms(_synced[s], now));
                    Clear(s);
                    if (_follower[0].Count >= ReportEvery) Report();
                }
            }
        }
    }

    private void OnApplied(long index)
    {
        var now = Now;
        lock (_gate) _applied[Slot(index)] = now;
    }

    private void Clear(int s)
    {
        _appendStarted[s] = _appended[s] = _synced[s] = _sent[s] = _acked[s] = _applied[s] = _received[s] = 0;
    }

    private void Report()
    {
        if (_total.Count > 0)
        {
            var parts = LeaderStages.Select((name, i) => $"{name} {Median(_leader[i]):0.000}");
            _logger.LogInformation("Stage clock (leader, medians in ms over {Count} puts): {Stages}; total {Total:0.000}", _total.Count, string.Join(" | ", parts), Median(_total));
        }
        if (_follower[0].Count > 0)
        {
            var parts = FollowerStages.Select((name, i) => $"{name} {Median(_follower[i]):0.000}");
            _logger.LogInformation("Stage clock (follower, medians in ms over {Count} appends): {Stages}", _follower[0].Count, string.Join(" | ", parts));
        }
        foreach (var list in _leader.Concat(_follower)) list.Clear();
        _total.Clear();
    }

    private static double Median(List<double> values)
    {
        if (values.Count == 0) return double.NaN;
        values.Sort();
        return values[values.Count / 2];
    }

    private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    private static int Slot(long index) => (int)(index & (Slots - 1));

    /// <summary>The index a put was applied at: the key-value state machine answers with it.</summary>
    public static bool TryParseIndex(byte[] result, out long index) =>
        long.TryParse(result, NumberStyles.None, CultureInfo.InvariantCulture, out index);

    private sealed class TimedStorage(IRaftStorage inner, StageClock clock) : IRaftStorage
    {
        public long FirstIndex => inner.FirstIndex;

        public long LastIndex => inner.LastIndex;

        public Snapshot Snapshot => inner.Snapshot;

        public RaftInitialState InitialState() => inner.InitialState();

        public bool TryGetTerm(long index, out long term) => inner.TryGetTerm(index, out term);

        public IReadOnlyList<LogEntry> Entries(long low, long highExclusive, long maxBytes) => inner.Entries(low, highExclusive, maxBytes);

        public void Append(IReadOnlyList<LogEntry> entries)
        {
            var started = Now;
            inner.Append(entries);
            clock.OnAppend(entries, started, Now);
        }

        public void SetHardState(HardState hardState) => inner.SetHardState(hardState);

        public void ApplySnapshot(Snapshot snapshot) => inner.ApplySnapshot(snapshot);

        public void Compact(Snapshot snapshot) => inner.Compact(snapshot);

        public void Sync()
        {
            inner.Sync();
            clock.OnSynced();
        }
    }

    private sealed class TimedTransport(IRaftTransport inner, StageClock clock) : IRaftTransport
    {
        public bool Send(Message message)
        {
            clock.OnSend(message);
            return inner.Send(message);
        }

        public string? AddressOf(long nodeId) => inner.AddressOf(nodeId);
    }

    private sealed class TimedStateMachine(IStateMachine inner, StageClock clock) : IStateMachine
    {
        public byte[] Apply(long index, ReadOnlyMemory<byte> command)
        {
            var result = inner.Apply(index, command);
            clock.OnApplied(index);
            return result;
        }

        public IStateMachineSnapshot CaptureSnapshot() => inner.CaptureSnapshot();

        public void Restore(ReadOnlyMemory<byte> snapshot) => inner.Restore(snapshot);
    }
}
