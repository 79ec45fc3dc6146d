using System.Buffers.Binary;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Driver;

/// <summary>
/// The deterministic half of <see cref="RaftDriver"/>: everything it does with a <see cref="RaftNode"/> that
/// needs no clock, thread or queue. For each Ready it sends a leader's replication traffic, persists snapshot,
/// entries and hard state, syncs only when <see cref="Ready.MustSync"/>, then sends the rest (votes,
/// acknowledgements), then applies to the <see cref="IStateMachine"/>, completing each
/// proposal whose entry committed at the index <em>and</em> term it was appended with, then advances the core, reports
/// what the sync made durable (only then does a leader count its own copy toward commit), and completes reads whose
/// index is applied. It also owns the pending proposals and the ReadIndex rounds. The
/// driver runs it on its loop; the simulator runs the same class for every simulated node, so what the
/// simulator checks is the driver's own handling of the protocol's output.
/// Not thread-safe: one caller at a time, which also owns the <see cref="RaftNode"/>.
/// </summary>
public sealed class ReadyProcessor
{
    private const int ReadContextBytes = 24;

    private readonly RaftNode _node;
    private readonly IRaftStorage _storage;
    private readonly IStateMachine _stateMachine;
    private readonly IRaftTransport _transport;
    private readonly ILogger _logger;
    private readonly long _incarnation;
    private readonly int _readRetryTicks;
    private readonly Dictionary<long, PendingProposal> _proposals = new();
    private readonly List<PendingRead> _readsToIssue = new();
    private readonly Dictionary<long, ReadBatch> _unconfirmedReads = new();
    private readonly PriorityQueue<ReadBatch, long> _confirmedReads = new();
    private long _ticks;
    private long _nextReadId;
    private SoftState _softState;
    private bool _retryReadsNow;

    /// <param name="node">The core; only this processor and its owner's inputs touch it.</param>
    /// <param name="storage">The storage the core was built on; Ready writes go here.</param>
    /// <param name="stateMachine">Already restored from <paramref name="storage"/>'s snapshot.</param>
    /// <param name="transport">Where messages leave, only after what they promise is durable.</param>
    /// <param name="incarnation">Distinguishes this run's read contexts from an earlier run's of the same node.</param>
    /// <param name="readRetryTicks">Unanswered ReadIndex rounds are asked again after this many ticks.</param>
    /// <param name="logger">State changes, one event each.</param>
    public ReadyProcessor(RaftNode node, IRaftStorage storage, IStateMachine stateMachine, IRaftTransport transport, long incarnation, int readRetryTicks, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(stateMachine);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentOutOfRangeException.ThrowIfLessThan(readRetryTicks, 1);
        _node = node;
        _storage = storage;
        _stateMachine = stateMachine;
        _transport = transport;
        _incarnation = incarnation;
        _readRetryTicks = readRetryTicks;
        _logger = logger ?? NullLogger.Instance;
        _softState = node.SoftState;
        Applied = storage.Snapshot.Index;
    }

    public long NodeId => _node.Id;

    /// <summary>The last index applied to the state machine (a restored snapshot counts as applied).</summary>
    public long Applied { get; private set; }

    public long SnapshotsInstalled { get; private set; }

    /// <summary>Proposals appended here and not yet completed or failed.</summary>
    public int PendingProposals => _proposals.Count;

    // ------------------------------------------------------------------ inputs

    /// <summary>Advances the core by one tick and re-asks ReadIndex rounds left unanswered too long.</summary>
    public void Tick()
    {
        _ticks++;
        _node.Tick();
        RetryReads();
    }

    /// <summary>
    /// Proposes <paramref name="command"/>; <paramref name="completion"/> gets the state machine's result once the
    /// entry is applied here at the index and term it was appended with, or fails (see <see cref="NotLeaderException"/>,
    /// <see cref="RaftOverloadedException"/>).
    /// </summary>
    public void Propose(ReadOnlyMemory<byte> command, TaskCompletionSource<byte[]> completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        Track(_node.Propose(command), new PendingProposal(completion, null));
    }

    /// <summary>Proposes a single-server change; <paramref name="completion"/> gets the membership once it is applied.</summary>
    public void ProposeMembershipChange(MembershipChange change, TaskCompletionSource<ClusterMembership> completion)
    {
        ArgumentNullException.ThrowIfNull(change);
        ArgumentNullException.ThrowIfNull(completion);
        var result = _node.ProposeMembershipChange(change);
        if (result.Status == ProposeStatus.MembershipChangeRejected)
        {
            completion.TrySetException(new InvalidOperationException(
                $"Membership change {change} refused: another change is pending or it does not apply to {_node.Membership}."));
            return;
        }
        Track(result, new PendingProposal(null, completion));
    }

    /// <summary>
    /// Queues a linearizable read: <paramref name="completion"/> completes once this replica has applied everything
    /// committed when the read was asked. Reads queued before one <see cref="IssueReads"/> share a round; a read
    /// whose <paramref name="cancellationToken"/> fired is dropped at its next retry.
    /// </summary>
    public void Read(TaskCompletionSource completion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completion);
        _readsToIssue.Add(new PendingRead(completion, cancellationToken));
    }

    /// <summary>Starts one ReadIndex round for every read queued since the last call.</summary>
    public void IssueReads()
    {
        if (_readsToIssue.Count == 0) return;
        var batch = new ReadBatch(_nextReadId++, _readsToIssue.ToList());
        _readsToIssue.Clear();
        _unconfirmedReads.Add(batch.Id, batch);
        Issue(batch);
    }

    /// <summary>Fails every pending proposal and read with <paramref name="error"/> (shutdown or a fatal failure).</summary>
    public void FailAll(Exception error)
    {
        foreach (var pending in _proposals.Values) pending.Fail(error);
        _proposals.Clear();
        foreach (var read in _readsToIssue) read.Completion.TrySetException(error);
        _readsToIssue.Clear();
        foreach (var batch in _unconfirmedReads.Values)
        {
            foreach (var read in batch.Reads) read.Completion.TrySetException(error);
        }
        _unconfirmedReads.Clear();
        while (_confirmedReads.TryDequeue(out var batch, out _))
        {
            foreach (var read in batch.Reads) read.Completion.TrySetException(error);
        }
    }

    // ------------------------------------------------------------------ Ready

    /// <summary>
    /// Handles one Ready of the core, if it has one: persist, sync when it must, send, apply, advance, complete.
    /// Returns false when there was none. A storage or state-machine exception leaves the Ready half done: the
    /// node must stop (its in-memory state may be ahead of what is durable).
    /// </summary>
    public bool HandleReady()
    {
        var node = _node;
        if (!node.HasReady) return false;
        var ready = node.GetReady();

        // 1. A leader's replication leaves before its own fsync (§10.2.1 of the Raft thesis): followers write and
        // acknowledge while we flush. Safe because it promises nothing about our disk, and the core counts us in
        // the commit quorum only for what step 6 reports durable, so any commit index it carries is durable on a
        // majority already.
        foreach (var message in ready.Messages)
        {
            if (LeavesBeforeSync(message)) _transport.Send(message);
        }

        // 2. Durable before anything that depends on it leaves: one sync covers the whole Ready.
        if (ready.Snapshot is not null) _storage.ApplySnapshot(ready.Snapshot);
        if (ready.Entries.Count > 0) _storage.Append(ready.Entries);
        if (ready.HardState is { } hardState) _storage.SetHardState(hardState);
        if (ready.MustSync) _storage.Sync();

        // 3. Send the rest: votes, acknowledgements, read answers.
        foreach (var message in ready.Messages)
        {
            if (!LeavesBeforeSync(message)) _transport.Send(message);
        }

        // 4. Apply.
        if (ready.Snapshot is { } snapshot) InstallSnapshot(snapshot);
        List<(PendingProposal Pending, long Index)>? membershipDone = null;
        foreach (var entry in ready.CommittedEntries)
        {
            Debug.Assert(entry.Index == Applied + 1, $"applying {entry.Index} after {Applied}");
            byte[] result = [];
            if (entry.Type == EntryType.Normal && !entry.Data.IsEmpty) result = _stateMachine.Apply(entry.Index, entry.Data);
            Applied = entry.Index;
            if (!_proposals.Remove(entry.Index, out var pending)) continue;
            if (pending.Term != entry.Term)
            {
                // Another leader's entry took the slot: ours was overwritten, so it never commits.
                pending.Fail(new NotLeaderException(NodeId, node.Leader, AddressOf(node.Leader)));
            }
            else if (pending.Command is { } command)
            {
                command.TrySetResult(result);
            }
            else
            {
                (membershipDone ??= new()).Add((pending, entry.Index));
            }
        }
        foreach (var readState in ready.ReadStates) OnReadState(readState);

        // 5. Role changes, after applying: what committed in this Ready has completed; a deposed leader's
        // other proposals are in doubt.
        if (ready.SoftState is { } soft) OnSoftStateChanged(soft);

        node.Advance(ready);

        // 6. Our own copy now counts toward commit (a sole voter commits here; the commit comes in the next Ready).
        if (ready.PersistedThrough is { } persisted) node.ReportPersisted(persisted.Index, persisted.Term);

        // Membership changes take effect in Advance: report the membership they produced.
        if (membershipDone is not null)
        {
            foreach (var (pending, index) in membershipDone)
            {
                _logger.LogInformation("Raft node {NodeId} applied membership change at {Index}: {Membership}", NodeId, index, node.Membership);
                pending.Membership!.TrySetResult(node.Membership);
            }
        }
        CompleteReads();
        if (_retryReadsNow)
        {
            // Inputs to the core only between Readies, never while one is outstanding.
            _retryReadsNow = false;
            RetryReads(force: true);
        }
        return true;
    }

    /// <summary>
    /// Only a leader's traffic to followers may overtake the sync: it promises nothing about this node's disk.
    /// Votes and acknowledgements promise what the sync makes durable.
    /// </summary>
    private static bool LeavesBeforeSync(Message message) =>
        message.Type is MessageType.Append or MessageType.Heartbeat or MessageType.SnapshotChunk or MessageType.TimeoutNow;

    private void Track(ProposeResult result, PendingProposal pending)
    {
        switch (result.Status)
        {
            case ProposeStatus.Accepted:
                pending.Term = result.Term;
                _proposals[result.Index] = pending;
                break;
            case ProposeStatus.NotLeader:
            case ProposeStatus.TransferInProgress:
                pending.Fail(new NotLeaderException(NodeId, result.LeaderHint, AddressOf(result.LeaderHint)));
                break;
            case ProposeStatus.Overloaded:
                pending.Fail(new RaftOverloadedException(NodeId, RaftOverloadReason.UncommittedEntries));
                break;
            default:
                throw new UnreachableException($"Unexpected proposal status {result.Status}.");
        }
    }

    private void OnSoftStateChanged(SoftState soft)
    {
        var previous = _softState;
        _softState = soft;
        if (previous.Leader != soft.Leader)
        {
            _logger.LogInformation(
                "Raft node {NodeId} sees leader {Leader} (was {PreviousLeader}) at term {Term} as {Role}",
                NodeId, soft.Leader, previous.Leader, _node.Term, soft.Role);
            // A new leader makes earlier unanswered reads worth asking again at once.
            if (soft.Leader != 0) _retryReadsNow = true;
        }
        else if (previous.Role != soft.Role)
        {
            _logger.LogInformation("Raft node {NodeId} is now {Role} at term {Term}", NodeId, soft.Role, _node.Term);
        }
        if (previous.Role == RaftRole.Leader && soft.Role != RaftRole.Leader && _proposals.Count > 0)
        {
            _logger.LogWarning("Raft node {NodeId} lost leadership with {Pending} proposals pending; they may still commit", NodeId, _proposals.Count);
            var error = new NotLeaderException(NodeId, soft.Leader, AddressOf(soft.Leader), mayHaveCommitted: true);
            foreach (var pending in _proposals.Values) pending.Fail(error);
            _proposals.Clear();
        }
    }

    private void InstallSnapshot(Snapshot snapshot)
    {
        _stateMachine.Restore(snapshot.Data);
        Applied = snapshot.Index;
        SnapshotsInstalled++;
        _logger.LogInformation(
            "Raft node {NodeId} installed a snapshot at {Index} (term {SnapshotTerm}, {Bytes} bytes, {Membership})",
            NodeId, snapshot.Index, snapshot.Term, snapshot.Data.Length, snapshot.Metadata.Membership);
        foreach (var index in _proposals.Keys.Where(i => i <= snapshot.Index).ToList())
        {
            _proposals.Remove(index, out var pending);
            pending!.Fail(new NotLeaderException(NodeId, _node.Leader, AddressOf(_node.Leader), mayHaveCommitted: true));
        }
    }

    // ------------------------------------------------------------------ reads

    private void Issue(ReadBatch batch)
    {
        batch.IssuedAtTick = _ticks;
        // False when no leader is known or the leader's queue is full: the retry timer asks again.
        _node.ReadIndex(Context(batch.Id));
    }

    private void RetryReads(bool force = false)
    {
        if (_unconfirmedReads.Count == 0) return;
        foreach (var batch in _unconfirmedReads.Values.ToList())
        {
            batch.Reads.RemoveAll(r => r.CancellationToken.IsCancellationRequested);
            if (batch.Reads.Count == 0)
            {
                _unconfirmedReads.Remove(batch.Id);
                continue;
            }
            if (force || _ticks - batch.IssuedAtTick >= _readRetryTicks) Issue(batch);
        }
    }

    private void OnReadState(ReadState state)
    {
        if (!TryParseContext(state.Context.Span, out var id) || !_unconfirmedReads.Remove(id, out var batch)) return;
        batch.ReadIndex = state.Index;
        _confirmedReads.Enqueue(batch, state.Index);
    }

    private void CompleteReads()
    {
        while (_confirmedReads.TryPeek(out var batch, out var index) && index <= Applied)
        {
            _confirmedReads.Dequeue();
            foreach (var read in batch.Reads) read.Completion.TrySetResult();
        }
    }

    private byte[] Context(long id)
    {
        var context = new byte[ReadContextBytes];
        BinaryPrimitives.WriteInt64LittleEndian(context, NodeId);
        BinaryPrimitives.WriteInt64LittleEndian(context.AsSpan(8), _incarnation);
        BinaryPrimitives.WriteInt64LittleEndian(context.AsSpan(16), id);
        return context;
    }

    private bool TryParseContext(ReadOnlySpan<byte> context, out long id)
    {
        id = 0;
        if (context.Length != ReadContextBytes
            || BinaryPrimitives.ReadInt64LittleEndian(context) != NodeId
            || BinaryPrimitives.ReadInt64LittleEndian(context[8..]) != _incarnation)
        {
            return false;
        }
        id = BinaryPrimitives.ReadInt64LittleEndian(context[16..]);
        return true;
    }

    private string? AddressOf(long nodeId) => nodeId == 0 ? null : _transport.AddressOf(nodeId);

    private sealed class PendingProposal(TaskCompletionSource<byte[]>? command, TaskCompletionSource<ClusterMembership>? membership)
    {
        public TaskCompletionSource<byte[]>? Command { get; } = command;

        public TaskCompletionSource<ClusterMembership>? Membership { get; } = membership;

        public long Term { get; set; }

        public void Fail(Exception error)
        {
            Command?.TrySetException(error);
            Membership?.TrySetException(error);
        }
    }

    private sealed record PendingRead(TaskCompletionSource Completion, CancellationToken CancellationToken);

    private sealed class ReadBatch(long id, List<PendingRead> reads)
    {
        public long Id { get; } = id;

        public List<PendingRead> Reads { get; } = reads;

        public long IssuedAtTick { get; set; }

        public long ReadIndex { get; set; }
    }
}
