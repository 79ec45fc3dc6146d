using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Driver;

/// <summary>
/// Runs one <see cref="RaftNode"/>: a single loop owns the core (no locks around it). Its inputs come from a peer
/// queue (peer messages, membership changes, transfers), a tick counter and a request queue (proposals, reads),
/// taken in that order each round, so that no number of local callers can hold back heartbeats, acknowledgements
/// or time, and time missed in a stall is not mistaken for the peers' silence (a round steps fewer ticks than an
/// election timeout, <see cref="RaftDriverStats.TicksCollapsed"/>); a full request queue fails the call at once
/// (<see cref="RaftOverloadedException"/>). For every Ready it
/// persists snapshot, entries and hard state with one <see cref="IRaftStorage.Sync"/>, then sends the messages,
/// then applies committed entries to the <see cref="IStateMachine"/>, completing each proposal with its result
/// (that per-Ready work is <see cref="ReadyProcessor"/>, which the simulator runs too).
/// Inputs that arrive together are stepped together, so concurrent proposals share one fsync (group commit).
/// </summary>
public sealed class RaftDriver : IAsyncDisposable
{
    private readonly RaftDriverOptions _options;
    private readonly IRaftStorage _storage;
    private readonly IStateMachine _stateMachine;
    private readonly IRaftTransport _transport;
    private readonly ILogger _logger;
    // Two queues rather than one: with a shared bounded queue, callers waiting for room took every slot the
    // moment it freed, so peer messages and ticks (which must not block) were dropped and a loaded leader could
    // neither commit nor keep its followers.
    private readonly Channel<DriverInput> _peerQueue;
    private readonly Channel<DriverInput> _requestQueue;

    // Capacity one: a pending wake-up already covers anything enqueued after it, because the loop consumes the
    // wake-up before it drains the queues.
    private readonly Channel<bool> _wake;
    private readonly CancellationTokenSource _stop = new();
    private readonly long _incarnation;
    private readonly int _maxTicksPerRound;

    // Loop-owned state: touched only by the loop (or before it starts / after it ends).
    private readonly BackgroundSnapshot _snapshot;
    private RaftNode? _node;
    private ReadyProcessor? _processor;
    private long _ticks;
    private long _pendingTicks;
    private long _ticksElapsed;
    private long _ticksCollapsed;
    private long _peerMessagesDropped;
    private long _proposalsRejected;
    private long _readsRejected;
    private long _snapshotsTaken;

    private Task? _loop;
    private Task? _ticker;
    private volatile RaftStatus _status;
    private int _disposed;

    // Set before the queues are completed, so a refused write can tell "stopped" from "full".
    private volatile bool _stopped;

    public RaftDriver(RaftDriverOptions options, IRaftStorage storage, IStateMachine stateMachine, IRaftTransport transport, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(stateMachine);
        ArgumentNullException.ThrowIfNull(transport);
        options.Validate();
        _options = options;
        _storage = storage;
        _stateMachine = stateMachine;
        _transport = transport;
        _logger = logger ?? NullLogger.Instance;
        NodeId = options.Raft.NodeId;
        // Writers only ever TryWrite: nothing that feeds the loop waits for room in it.
        _peerQueue = Channel.CreateBounded<DriverInput>(new BoundedChannelOptions(options.PeerQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _requestQueue = Channel.CreateBounded<DriverInput>(new BoundedChannelOptions(options.RequestQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });
        _snapshot = new BackgroundSnapshot(storage, Wake);
        _maxTicksPerRound = Math.Max(1, options.Raft.ElectionTicks - 1);
        // Read contexts must be unique across nodes (a leader dedupes by context) and across restarts.
        _incarnation = Random.Shared.NextInt64();
        _status = new RaftStatus(NodeId, RaftRole.Follower, 0, 0, null, 0, 0, 0, 0, ClusterMembership.Empty, 0, 0);
    }

    public long NodeId { get; }

    /// <summary>The latest published status; safe to read from any thread.</summary>
    public RaftStatus Status => _status;

    /// <summary>Queue counters: peer messages dropped, requests refused, ticks elapsed, handled and collapsed.</summary>
    public RaftDriverStats Stats => new(
        Interlocked.Read(ref _peerMessagesDropped),
        Interlocked.Read(ref _proposalsRejected),
        Interlocked.Read(ref _readsRejected),
        Interlocked.Read(ref _ticks))
    {
        TicksCollapsed = Interlocked.Read(ref _ticksCollapsed),
        TicksElapsed = Interlocked.Read(ref _ticksElapsed),
    };

    /// <summary>The loop: completes when the driver stops, faults when it died (a storage or state-machine failure).</summary>
    public Task Completion => _loop ?? Task.CompletedTask;

    /// <summary>
    /// Restores the state machine from the storage's snapshot, builds the core from the storage, and starts the
    /// loop and the ticker. The core re-delivers committed entries after the snapshot, so the state machine
    /// catches up from the log as the loop runs.
    /// </summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_loop is not null) throw new InvalidOperationException("The driver is already started.");
        var snapshot = _storage.Snapshot;
        if (snapshot.Index > 0) _stateMachine.Restore(snapshot.Data);
        // A drawn seed is logged, so a run that misbehaved can be replayed with the same election timeouts.
        var seed = _options.RandomSeed ?? Random.Shared.Next();
        _node = new RaftNode(_options.Raft, _storage, new Random(seed));
        _processor = new ReadyProcessor(_node, _storage, _stateMachine, _transport, _incarnation, _options.ReadRetryTicks, _logger);
        PublishStatus();
        _logger.LogInformation(
            "Raft node {NodeId} starting at term {Term}, commit {CommitIndex}, snapshot {SnapshotIndex}, last {LastIndex}, {Membership}, random seed {RandomSeed}",
            NodeId, _node.Term, _node.Log.Committed, snapshot.Index, _node.Log.LastIndex, _node.Membership, seed);
        var token = _stop.Token;
        // Created here rather than on the ticker's thread, so the first tick is due one interval after Start.
        var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_options.TickMs), _options.TimeProvider);
        var started = _options.TimeProvider.GetTimestamp();
        _loop = Task.Run(() => RunLoopAsync(token), CancellationToken.None);
        _ticker = Task.Run(() => RunTickerAsync(timer, started, token), CancellationToken.None);
    }

    /// <summary>
    /// Hands a message from a peer to the loop, ahead of every local request. Never blocks: when the peer queue
    /// is full (or the driver stopped) the message is dropped (Raft tolerates loss) and false is returned.
    /// </summary>
    public bool Deliver(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!_peerQueue.Writer.TryWrite(new PeerMessageInput(message)))
        {
            if (!_stopped) Interlocked.Increment(ref _peerMessagesDropped);
            return false;
        }
        Wake();
        return true;
    }

    /// <summary>
    /// Proposes <paramref name="command"/> and completes with the state machine's result once it is committed
    /// and applied here. Fails with <see cref="NotLeaderException"/> when this node is not the leader, or when
    /// leadership is lost before the entry commits (then it may still commit: retry with an idempotency key).
    /// Fails at once with <see cref="RaftOverloadedException"/> when the request queue is full (nothing proposed).
    /// Cancelling stops the wait, not the proposal.
    /// </summary>
    public async Task<byte[]> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken)
    {
        if (command.IsEmpty) throw new ArgumentException("A command must not be empty (empty entries are the leader's no-ops).", nameof(command));
        if (command.Length > _options.MaxProposalBytes) throw new ArgumentException($"A command is at most {_options.MaxProposalBytes} bytes, got {command.Length}.", nameof(command));
        var input = new ProposeInput(command.ToArray());
        if (!TryEnqueue(_requestQueue, input, RaftOverloadReason.RequestQueueFull, out var refused))
        {
            if (refused is RaftOverloadedException) Interlocked.Increment(ref _proposalsRejected);
            throw refused;
        }
        return await input.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Proposes a single-server membership change; completes with the membership once it is applied.</summary>
    /// <remarks>Goes through the peer queue: an operator can still reconfigure a node that clients overload.</remarks>
    public async Task<ClusterMembership> ChangeMembershipAsync(MembershipChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        var input = new MembershipInput(change);
        if (!TryEnqueue(_peerQueue, input, RaftOverloadReason.PeerQueueFull, out var refused)) throw refused;
        return await input.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A linearizable read barrier (ReadIndex): completes once this replica has applied everything committed
    /// when the read was requested, so reading the local state machine afterwards observes every write
    /// acknowledged before the call. Works on any replica; lost requests are retried every
    /// <see cref="RaftDriverOptions.ReadRetryTicks"/> ticks until <paramref name="cancellationToken"/> fires, so
    /// pass a deadline (with no leader the read waits for one). Fails at once with
    /// <see cref="RaftOverloadedException"/> when the request queue is full.
    /// </summary>
    public async Task ReadAsync(CancellationToken cancellationToken)
    {
        var input = new ReadInput(cancellationToken);
        if (!TryEnqueue(_requestQueue, input, RaftOverloadReason.RequestQueueFull, out var refused))
        {
            if (refused is RaftOverloadedException) Interlocked.Increment(ref _readsRejected);
            throw refused;
        }
        await input.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Asks the leader (this node) to hand leadership to <paramref name="target"/>; false when refused.</summary>
    /// <remarks>Goes through the peer queue: leadership can still be moved off a node that clients overload.</remarks>
    public async Task<bool> TransferLeadershipAsync(long target, CancellationToken cancellationToken)
    {
        var input = new TransferInput(target);
        if (!TryEnqueue(_peerQueue, input, RaftOverloadReason.PeerQueueFull, out var refused)) throw refused;
        return await input.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops the ticker and the loop (never in the middle of a Ready) and fails whatever is pending.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_ticker is not null) await _ticker.ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                // The loop died of a storage or state-machine failure: logged there, visible through Completion.
            }
        }
        else
        {
            _stopped = true;
            _peerQueue.Writer.TryComplete();
            _requestQueue.Writer.TryComplete();
        }
        _stop.Dispose();
        _logger.LogInformation("Raft node {NodeId} stopped", NodeId);
    }

    private bool TryEnqueue(Channel<DriverInput> queue, DriverInput input, RaftOverloadReason whenFull, out Exception refused)
    {
        if (_loop is null) throw new InvalidOperationException("The driver is not started.");
        if (queue.Writer.TryWrite(input))
        {
            Wake();
            refused = null!;
            return true;
        }
        // The loop sets _stopped before completing the queues, so a write refused by a completed queue sees it.
        refused = _stopped ? Stopped() : new RaftOverloadedException(NodeId, whenFull);
        return false;
    }

    private void Wake() => _wake.Writer.TryWrite(true);

    private Exception Stopped() =>
        _loop is { IsFaulted: true } loop
            ? new InvalidOperationException($"Raft node {NodeId} failed and stopped.", loop.Exception?.GetBaseException())
            : new ObjectDisposedException(nameof(RaftDriver), $"Raft node {NodeId} is stopped.");

    // ------------------------------------------------------------------ the loop

    private async Task RunTickerAsync(PeriodicTimer timer, long started, CancellationToken cancellationToken)
    {
        var time = _options.TimeProvider;
        var tick = TimeSpan.FromMilliseconds(_options.TickMs);
        long counted = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                // Ticks are counted from the time elapsed, not from the timer's firings: a timer that fires late (a
                // busy machine, a pause) fires once for all the periods it missed, which made time run slow, so
                // election timeouts and leases ran long. Half a tick of slack absorbs a firing a little early.
                var due = (time.GetElapsedTime(started) + (tick / 2)).Ticks / tick.Ticks;
                if (due <= counted) continue;
                var ticks = due - counted;
                counted = due;
                // A counter, not a queued input: only the number of ticks matters, and it cannot fill up, so time
                // keeps its pace however busy the queues are.
                Interlocked.Add(ref _ticksElapsed, ticks);
                Interlocked.Add(ref _pendingTicks, ticks);
                Wake();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            timer.Dispose();
        }
    }

    private async Task RunLoopAsync(CancellationToken cancellationToken)
    {
        Debug.Assert(_node is not null);
        Exception? failure = null;
        try
        {
            var peers = _peerQueue.Reader;
            var requests = _requestQueue.Reader;
            var wake = _wake.Reader;
            var backlog = false;
            while (true)
            {
                // A round that stopped at MaxInputsPerBatch left work behind: run again without waiting.
                if (!backlog)
                {
                    await wake.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
                }
                cancellationToken.ThrowIfCancellationRequested();
                wake.TryRead(out _);

                // What peers said before the time that passed while it queued: after a stall (a slow fsync or apply,
                // a pause) the acknowledgements and heartbeats that arrived during it are news from inside it. Stepping
                // the missed ticks first made a leader count the stall as its followers' silence (check-quorum stepped
                // it down) and a follower count it as the leader's.
                var peersTaken = 0;
                for (; peersTaken < _options.MaxInputsPerBatch && peers.TryRead(out var input); peersTaken++) Handle(input);
                StepTicks();

                // Local requests after peers and time, bounded per round, so neither queue can starve the other.
                var requestsTaken = 0;
                for (; requestsTaken < _options.MaxInputsPerBatch && requests.TryRead(out var input); requestsTaken++) Handle(input);
                backlog = peersTaken == _options.MaxInputsPerBatch || requestsTaken == _options.MaxInputsPerBatch;

                _processor!.IssueReads();
                HandleReadies();
                CompleteSnapshot();
                PublishStatus();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            failure = e;
            _logger.LogCritical(e, "Raft node {NodeId} stopped on a failure it cannot recover from", NodeId);
        }
        finally
        {
            _stopped = true;
            _peerQueue.Writer.TryComplete();
            _requestQueue.Writer.TryComplete();
            var error = failure is null
                ? new ObjectDisposedException(nameof(RaftDriver), $"Raft node {NodeId} is stopped.")
                : new InvalidOperationException($"Raft node {NodeId} failed and stopped.", failure);
            while (_peerQueue.Reader.TryRead(out var input)) input.Fail(error);
            while (_requestQueue.Reader.TryRead(out var input)) input.Fail(error);
            FailAllPending(error);
            await _snapshot.StopAsync().ConfigureAwait(false);
        }
        if (failure is not null) throw new InvalidOperationException($"Raft node {NodeId} failed and stopped.", failure);
    }

    private void StepTicks()
    {
        var ticks = Interlocked.Exchange(ref _pendingTicks, 0);
        Debug.Assert(ticks >= 0, $"pending ticks {ticks}");
        // Fewer than an election timeout per round: a follower that just stepped a heartbeat stays in the leader's
        // lease and does not campaign, and a leader crosses at most one check-quorum, right after the
        // acknowledgements it just stepped. The rest of a long stall is collapsed; the real ticks that follow
        // still time out a leader or follower that heard nothing.
        var stepped = Math.Min(ticks, _maxTicksPerRound);
        if (ticks > stepped) Interlocked.Add(ref _ticksCollapsed, ticks - stepped);
        for (var i = 0; i < stepped; i++)
        {
            // Written by the loop only; read by Stats from any thread.
            Interlocked.Increment(ref _ticks);
            _processor!.Tick();
        }
    }

    private void Handle(DriverInput input)
    {
        switch (input)
        {
            case PeerMessageInput peer:
                _node!.Step(peer.Message);
                break;
            case ProposeInput propose:
                _processor!.Propose(propose.Command, propose.Completion);
                break;
            case MembershipInput change:
                _processor!.ProposeMembershipChange(change.Change, change.Completion);
                break;
            case ReadInput read:
                _processor!.Read(read.Completion, read.CancellationToken);
                break;
            case TransferInput transfer:
                var accepted = _node!.TransferLeadership(transfer.Target);
                if (accepted) _logger.LogInformation("Raft node {NodeId} transferring leadership to {Target}", NodeId, transfer.Target);
                transfer.Completion.TrySetResult(accepted);
                break;
            default:
                throw new UnreachableException($"Unknown driver input {input.GetType().Name}.");
        }
    }

    private void HandleReadies()
    {
        while (_processor!.HandleReady()) MaybeSnapshot();
    }

    private void MaybeSnapshot()
    {
        // One at a time: the next waits until the one being written is durable and compacted (back-pressure).
        var applied = _processor!.Applied;
        if (_snapshot.Busy || applied - _storage.Snapshot.Index < _options.SnapshotThresholdEntries) return;
        // Below it the core cannot say which membership the snapshot holds (after a restart, until the applied index
        // passes the last membership change): capture nothing until then, rather than capture and discard each Ready.
        if (applied < _node!.CompactableFrom) return;
        // Only the capture runs here; serializing and writing it run off the loop.
        _snapshot.Start(_node.SnapshotMetadataAt(applied), _stateMachine.CaptureSnapshot());
    }

    private void CompleteSnapshot()
    {
        // A failed write throws here and stops the node, as any storage failure does; the previous snapshot stays.
        if (!_snapshot.TryTake(out var snapshot, out var elapsed)) return;
        if (_node!.Compact(snapshot))
        {
            _snapshotsTaken++;
            _logger.LogInformation(
                "Raft node {NodeId} took a snapshot at {Index} ({Bytes} bytes, written off the loop in {ElapsedMs} ms) and compacted the log",
                NodeId, snapshot.Index, snapshot.Data.Length, (long)elapsed.TotalMilliseconds);
        }
        MaybeSnapshot();
    }

    // ------------------------------------------------------------------ helpers

    private string? AddressOf(long nodeId) => nodeId == 0 ? null : _transport.AddressOf(nodeId);

    private void FailAllPending(Exception error) => _processor!.FailAll(error);

    private void PublishStatus()
    {
        var node = _node!;
        _status = new RaftStatus(
            NodeId,
            node.Role,
            node.Term,
            node.Leader,
            AddressOf(node.Leader),
            node.Log.Committed,
            _processor!.Applied,
            _storage.Snapshot.Index,
            node.Log.LastIndex,
            node.Membership,
            _snapshotsTaken,
            _processor!.SnapshotsInstalled);
    }
}
