using System.Diagnostics;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Quorum;
using RaftHead.Consensus.Replication;

namespace RaftHead.Consensus.Core;

/// <summary>
/// The Raft protocol as a deterministic state machine. Inputs: <see cref="Step"/>, <see cref="Tick"/>,
/// <see cref="Propose"/>, <see cref="ProposeMembershipChange"/>, <see cref="ReadIndex"/>,
/// <see cref="TransferLeadership"/>; output: <see cref="GetReady"/>, acknowledged with <see cref="Advance"/> and, once
/// its writes are durable, <see cref="ReportPersisted"/>.
/// No clock, thread, socket or file: time is ticks, randomness is the injected <see cref="Random"/>, and I/O is
/// the driver's job. Not thread-safe; the driver serializes all calls.
/// <para>
/// Invariants. Committed means durable on a majority of voters' disks: a follower's acknowledgement of an entry leaves
/// only after the sync of the Ready that writes it (as does a vote), and the leader counts itself in the commit quorum
/// only up to what the driver reported durable through <see cref="ReportPersisted"/>, never for entries it merely
/// appended. Its own match index is that reported position, so the leader's appends, heartbeats and snapshot chunks may
/// leave before its own sync: every commit index they carry is already durable on a majority, whether or not on this
/// node. The persisted position only moves down when the log is replaced (a new leader truncates a suffix, or a
/// snapshot replaces the log), and a report for an entry since replaced is ignored. A ReadIndex is answered only once
/// an entry of the leader's own term has committed, by a sole voter too: until then its commit index may lag the true
/// one.
/// </para>
/// </summary>
public sealed class RaftNode
{
    private readonly RaftConfig _config;
    private readonly IRaftStorage _storage;
    private readonly Random _random;
    private readonly RaftLog _log;
    private readonly ProgressTracker _tracker;
    private readonly ReadIndexQueue _reads = new();
    private readonly List<(long From, ReadOnlyMemory<byte> Context)> _readsAwaitingTermCommit = new();
    private List<Message> _messages = new();
    private List<ReadState> _readStates = new();
    private int _electionElapsed;
    private int _heartbeatElapsed;
    private int _randomizedElectionTicks;
    private long _vote;
    private long _leadTransferee;
    private long _pendingMembershipIndex;

    // Highest log index whose membership effect is already in the tracker (a change entry or a snapshot).
    private long _membershipIndex;
    private IncomingSnapshot? _incomingSnapshot;
    private HardState _previousHardState;
    private SoftState _previousSoftState;
    private bool _readyOutstanding;

    // The last log position the driver reported durable (ReportPersisted), or (0, 0) when unknown since the log
    // was replaced; everything at or below it is on this node's disk. The leader counts itself up to here only.
    private long _persistedIndex;
    private long _persistedTerm;

    public RaftNode(RaftConfig config, IRaftStorage storage, Random random)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(random);
        config.Validate();
        _config = config;
        _storage = storage;
        _random = random;
        Id = config.NodeId;
        _log = new RaftLog(storage);
        _tracker = new ProgressTracker(config.MaxInflightMessages);

        var initial = storage.InitialState();
        var hardState = initial.HardState;
        if (!hardState.IsEmpty)
        {
            if (hardState.Commit > _log.LastIndex)
            {
                throw new InvalidOperationException($"Hard state commit {hardState.Commit} is beyond the last stored index {_log.LastIndex}: storage lost acknowledged entries.");
            }
            _log.CommitTo(hardState.Commit);
            Term = hardState.Term;
            _vote = hardState.Vote;
        }
        if (config.AppliedIndex > _log.Applied) _log.AppliedTo(Math.Min(config.AppliedIndex, _log.Committed));

        // Re-derive the membership of every committed change now, so a restarted node never campaigns or
        // counts votes with a stale membership while it re-applies its committed entries.
        var membership = initial.Membership;
        _membershipIndex = storage.Snapshot.Index;
        var committed = _log.Slice(_log.FirstIndex, _log.Committed + 1, long.MaxValue) ?? Array.Empty<LogEntry>();
        foreach (var entry in committed)
        {
            if (entry.Type != EntryType.MembershipChange) continue;
            var change = MembershipChange.Decode(entry.Data.Span);
            if (membership.Validate(change) is null) membership = membership.Apply(change);
            _membershipIndex = entry.Index;
        }
        // What the storage holds when we start survived the last stop, and reopening it made it durable (the
        // write-ahead log syncs its recovered tail): a leader may count itself for all of it.
        _persistedIndex = _log.LastIndex;
        _persistedTerm = _log.TermOrZero(_persistedIndex);
        _tracker.SetMembership(membership, _log.LastIndex);
        BecomeFollower(Term, 0);
        _previousHardState = HardState;
        _previousSoftState = SoftState;
    }

    public long Id { get; }

    public long Term { get; private set; }

    public long Vote => _vote;

    public RaftRole Role { get; private set; }

    /// <summary>The leader this node currently follows (itself when leading), 0 when unknown.</summary>
    public long Leader { get; private set; }

    public long LeadTransferee => _leadTransferee;

    public HardState HardState => new(Term, _vote, _log.Committed);

    /// <summary>Snapshot chunks dropped for declaring more than <see cref="RaftConfig.SnapshotBytesMax"/> or overrunning their declared size.</summary>
    public long SnapshotChunksRejected { get; private set; }

    public SoftState SoftState => new(Leader, Role);

    public ClusterMembership Membership => _tracker.Membership;

    /// <summary>Read-only inspection of the log (tests, diagnostics); never mutate through it.</summary>
    public RaftLog Log => _log;

    /// <summary>The leader's view of a member's replication; meaningful only on the leader.</summary>
    public Progress? ProgressOf(long id) => _tracker.Get(id);

    private bool Promotable => _tracker.Membership.IsVoter(Id);

    // ---------------------------------------------------------------- inputs

    /// <summary>Advances logical time by one tick: election timeouts on followers, heartbeats on the leader.</summary>
    public void Tick()
    {
        if (Role == RaftRole.Leader) TickLeader();
        else TickElection();
    }

    public ProposeResult Propose(ReadOnlyMemory<byte> data)
    {
        var refusal = CheckCanPropose();
        if (refusal is not null) return refusal;
        // Copied so a caller reusing its buffer cannot rewrite the log.
        AppendEntries(EntryType.Normal, data.ToArray());
        BroadcastAppend();
        return new ProposeResult(ProposeStatus.Accepted, _log.LastIndex, Term, Id);
    }

    /// <summary>
    /// Proposes one single-server change. Refused while an earlier change is unapplied (including every entry
    /// a new leader inherited), which is what makes single-server changes safe without joint consensus.
    /// </summary>
    public ProposeResult ProposeMembershipChange(MembershipChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var refusal = CheckCanPropose();
        if (refusal is not null) return refusal;
        if (_pendingMembershipIndex > _log.Applied || _tracker.Membership.Validate(change) is not null)
        {
            return new ProposeResult(ProposeStatus.MembershipChangeRejected, 0, Term, Id);
        }
        AppendEntries(EntryType.MembershipChange, change.Encode());
        _pendingMembershipIndex = _log.LastIndex;
        BroadcastAppend();
        return new ProposeResult(ProposeStatus.Accepted, _log.LastIndex, Term, Id);
    }

    /// <summary>
    /// Requests a linearizable read. A <see cref="ReadState"/> with the same context appears in a later Ready
    /// once leadership is confirmed; requests can be lost (leader change, message loss) and must be retried
    /// by the caller after a timeout. Returns false when no leader is known or the queue is full.
    /// </summary>
    public bool ReadIndex(ReadOnlyMemory<byte> context)
    {
        if (context.IsEmpty) throw new ArgumentException("A read needs a non-empty context to be matched with its answer.", nameof(context));
        if (Role == RaftRole.Leader) return LeaderReadIndex(Id, context.ToArray());
        if (Leader == 0) return false;
        Send(new Message { Type = MessageType.ReadIndex, To = Leader, Context = context.ToArray() });
        return true;
    }

    /// <summary>
    /// On the leader: catch <paramref name="target"/> up, then tell it to campaign at once. Proposals are refused
    /// until the transfer completes or is abandoned after an election timeout.
    /// </summary>
    public bool TransferLeadership(long target)
    {
        if (Role != RaftRole.Leader || target == Id || !_tracker.Membership.IsVoter(target)) return false;
        if (_leadTransferee == target) return true;
        _leadTransferee = target;
        _electionElapsed = 0;
        var pr = _tracker.Get(target)!;
        if (pr.Match == _log.LastIndex) SendTimeoutNow(target);
        else SendAppend(target);
        return true;
    }

    /// <summary>
    /// The lowest index the log can be compacted to now: past the current snapshot, and not below the last
    /// membership change in force. After a restart the core holds the membership of every committed change at once,
    /// so the membership at a lower index is unknown until the applied index passes that change; until then
    /// nothing is worth capturing.
    /// </summary>
    public long CompactableFrom => Math.Max(_storage.Snapshot.Index + 1, _membershipIndex);

    /// <summary>
    /// Where a snapshot of the state as of <paramref name="index"/> sits (its term and the membership in force
    /// there), for <see cref="CompactableFrom"/> ≤ index ≤ the applied index. Take it with the capture of the state:
    /// it stays true however long the snapshot then takes to write.
    /// </summary>
    public SnapshotMetadata SnapshotMetadataAt(long index)
    {
        if (index > _log.Applied || index < CompactableFrom)
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"A snapshot at {index} needs {CompactableFrom} ≤ index ≤ applied {_log.Applied}.");
        }
        return new SnapshotMetadata(index, _log.TermOrZero(index), _tracker.Membership);
    }

    /// <summary>
    /// Makes <paramref name="snapshot"/> (metadata from <see cref="SnapshotMetadataAt"/>) the base of the log through
    /// the storage's compaction, synchronously. False, changing nothing, when the log is already compacted to or
    /// past it (a snapshot from the leader was installed while this one was being written).
    /// </summary>
    public bool Compact(Snapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Index > _log.Applied) throw new ArgumentOutOfRangeException(nameof(snapshot), $"Cannot compact to {snapshot.Index} beyond applied {_log.Applied}.");
        if (snapshot.Index <= _storage.Snapshot.Index) return false;
        Debug.Assert(snapshot.Index < _log.Unstable.Offset, "applied entries must be stable");
        Debug.Assert(_log.TermOrZero(snapshot.Index) == snapshot.Term, "a snapshot's term must match the log");
        _storage.Compact(snapshot);
        return true;
    }

    /// <summary>
    /// Compacts the log up to <paramref name="index"/> (at most the applied index), with
    /// <paramref name="snapshotData"/> being the state machine's state as of that index. Returns false when nothing
    /// to do or when <paramref name="index"/> is below <see cref="CompactableFrom"/>.
    /// </summary>
    public bool Compact(long index, ReadOnlyMemory<byte> snapshotData)
    {
        if (index > _log.Applied) throw new ArgumentOutOfRangeException(nameof(index), $"Cannot compact to {index} beyond applied {_log.Applied}.");
        if (index < CompactableFrom) return false;
        return Compact(new Snapshot(SnapshotMetadataAt(index), snapshotData.ToArray()));
    }

    public void Step(Message m)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (m.To != Id) return;
        if (m.Type is MessageType.ReadIndex or MessageType.ReadIndexResponse)
        {
            StepTermless(m);
            return;
        }
        if (m.Term > Term)
        {
            if (m.Type is MessageType.Vote or MessageType.PreVote)
            {
                // Check-quorum's lease: while we hear from a live leader, a higher-term candidate is a
                // disruptive node (partitioned, or removed) and must not depose it.
                var inLease = _config.CheckQuorum && Leader != 0 && _electionElapsed < _config.ElectionTicks;
                if (inLease && !m.LeaderTransfer) return;
            }
            if (m.Type == MessageType.PreVote || (m.Type == MessageType.PreVoteResponse && !m.Reject))
            {
                // Pre-votes are asked and granted for a future term; neither side changes term.
            }
            else if (m.Type is MessageType.Append or MessageType.Heartbeat or MessageType.SnapshotChunk)
            {
                BecomeFollower(m.Term, m.From);
            }
            else
            {
                BecomeFollower(m.Term, 0);
            }
        }
        else if (m.Term < Term)
        {
            if (m.Type is MessageType.Append or MessageType.Heartbeat or MessageType.SnapshotChunk)
            {
                // A stale leader learns our term and steps down (the paper's rule). Needed for liveness: with
                // pre-vote or leases our higher term may never reach it otherwise, and a node whose stale
                // membership names only departed peers could never reach the current members at all.
                Send(new Message { Type = MessageType.AppendResponse, To = m.From });
            }
            else if (m.Type == MessageType.PreVote)
            {
                Send(new Message { Type = MessageType.PreVoteResponse, To = m.From, Term = Term, Reject = true });
            }
            return;
        }

        if (m.Type is MessageType.Vote or MessageType.PreVote)
        {
            HandleVoteRequest(m);
            return;
        }
        switch (Role)
        {
            case RaftRole.Leader:
                StepLeader(m);
                break;
            case RaftRole.Candidate:
            case RaftRole.PreCandidate:
                StepCandidate(m);
                break;
            default:
                StepFollower(m);
                break;
        }
    }

    // ---------------------------------------------------------------- Ready

    public bool HasReady =>
        SoftState != _previousSoftState
        || HardState != _previousHardState
        || _log.Unstable.Snapshot is not null
        || _log.Unstable.Entries.Count > 0
        || _messages.Count > 0
        || _readStates.Count > 0
        || _log.HasNextCommittedEntries;

    public Ready GetReady()
    {
        if (_readyOutstanding) throw new InvalidOperationException("Advance the previous Ready before taking another.");
        var soft = SoftState;
        var hard = HardState;
        var ready = new Ready
        {
            SoftState = soft != _previousSoftState ? soft : null,
            HardState = hard != _previousHardState ? hard : null,
            TermOrVoteChanged = hard.Term != _previousHardState.Term || hard.Vote != _previousHardState.Vote,
            Entries = _log.Unstable.Entries.ToArray(),
            Snapshot = _log.Unstable.Snapshot,
            CommittedEntries = _log.NextCommittedEntries(_config.MaxBatchBytes),
            Messages = _messages,
            ReadStates = _readStates,
        };
        _messages = new List<Message>();
        _readStates = new List<ReadState>();
        _previousSoftState = soft;
        _previousHardState = hard;
        _readyOutstanding = true;
        return ready;
    }

    /// <summary>The driver has persisted, sent and applied <paramref name="ready"/>.</summary>
    public void Advance(Ready ready)
    {
        ArgumentNullException.ThrowIfNull(ready);
        if (!_readyOutstanding) throw new InvalidOperationException("No Ready outstanding.");
        _readyOutstanding = false;
        if (ready.Entries.Count > 0)
        {
            var last = ready.Entries[^1];
            _log.StableTo(last.Index, last.Term);
        }
        if (ready.Snapshot is not null)
        {
            _log.StableSnapshotTo(ready.Snapshot.Index);
            _log.AppliedSnapshot(ready.Snapshot.Index);
        }
        if (ready.CommittedEntries.Count > 0)
        {
            foreach (var entry in ready.CommittedEntries)
            {
                if (entry.Type == EntryType.MembershipChange && entry.Index > _membershipIndex) ApplyMembershipChange(entry);
            }
            _log.AppliedTo(ready.CommittedEntries[^1].Index);
        }
    }

    /// <summary>
    /// The driver made the log durable up to (<paramref name="index"/>, <paramref name="term"/>), the last position
    /// of a Ready it synced (<see cref="Ready.PersistedThrough"/>). Only now does a leader count itself in the commit
    /// quorum for those entries; a sole voter commits them here. Ignored when the entry at that index has since been
    /// replaced (a new leader truncated it) or the position is already known durable. Call it between Readies.
    /// </summary>
    public void ReportPersisted(long index, long term)
    {
        if (index <= _persistedIndex || !_log.MatchTerm(index, term)) return;
        _persistedIndex = index;
        _persistedTerm = term;
        if (Role != RaftRole.Leader || _tracker.Get(Id) is not { } self || !self.MaybeUpdate(index)) return;
        if (MaybeCommit())
        {
            OnCommitAdvanced();
            BroadcastAppend();
        }
    }

    /// <summary>The log replaced entries above <paramref name="keptIndex"/>: what was reported durable above it is gone.</summary>
    private void ForgetPersistedAbove(long keptIndex)
    {
        if (_persistedIndex <= keptIndex || _log.MatchTerm(_persistedIndex, _persistedTerm)) return;
        _persistedIndex = keptIndex;
        _persistedTerm = _log.TermOrZero(keptIndex);
    }

    // ---------------------------------------------------------------- roles

    private void Reset(long term)
    {
        if (Term != term)
        {
            Term = term;
            _vote = 0;
        }
        Leader = 0;
        _electionElapsed = 0;
        _heartbeatElapsed = 0;
        _randomizedElectionTicks = _config.ElectionTicks + _random.Next(_config.ElectionTicks);
        _leadTransferee = 0;
        _pendingMembershipIndex = 0;
        _tracker.ResetVotes();
        _tracker.ResetAll(_log.LastIndex, Id, _persistedIndex);
        _reads.Clear();
        _readsAwaitingTermCommit.Clear();
    }

    private void BecomeFollower(long term, long leader)
    {
        Reset(term);
        Leader = leader;
        Role = _tracker.Membership.IsLearner(Id) ? RaftRole.Learner : RaftRole.Follower;
    }

    private void BecomePreCandidate()
    {
        Debug.Assert(Role != RaftRole.Leader);
        // Deliberately no term change: a pre-candidate that cannot win disturbs nobody.
        Role = RaftRole.PreCandidate;
        Leader = 0;
        _tracker.ResetVotes();
    }

    private void BecomeCandidate()
    {
        Debug.Assert(Role != RaftRole.Leader);
        Reset(Term + 1);
        _vote = Id;
        Role = RaftRole.Candidate;
    }

    private void BecomeLeader()
    {
        Debug.Assert(Role == RaftRole.Candidate);
        Reset(Term);
        Leader = Id;
        Role = RaftRole.Leader;
        _tracker.Get(Id)?.BecomeReplicate();
        // Everything already in our log may hold a membership change we have not applied; refuse new
        // changes until all of it is applied. This also forces the leader to commit an entry of its own term
        // before any change (the single-server-change bug found after the dissertation).
        _pendingMembershipIndex = _log.LastIndex;
        AppendEntries(EntryType.Normal, ReadOnlyMemory<byte>.Empty);
    }

    private void TickElection()
    {
        _electionElapsed++;
        if (Promotable && _electionElapsed >= _randomizedElectionTicks)
        {
            _electionElapsed = 0;
            Hup(transfer: false);
        }
    }

    private void TickLeader()
    {
        _heartbeatElapsed++;
        _electionElapsed++;
        if (_electionElapsed >= _config.ElectionTicks)
        {
            _electionElapsed = 0;
            if (_config.CheckQuorum)
            {
                if (!_tracker.QuorumActive(Id))
                {
                    BecomeFollower(Term, 0);
                    return;
                }
                _tracker.ResetRecentActive(Id);
            }
            if (_leadTransferee != 0) _leadTransferee = 0; // the target did not take over in time
        }
        if (_heartbeatElapsed >= _config.HeartbeatTicks)
        {
            _heartbeatElapsed = 0;
            // Carrying the newest pending read's context retries its confirmation when heartbeats were lost.
            BroadcastHeartbeat(_reads.LastContext);
        }
    }

    private void Hup(bool transfer)
    {
        if (Role == RaftRole.Leader || !Promotable) return;
        // A committed but unapplied membership change might remove us or change the quorum: wait for it.
        if (HasUnappliedMembershipChange()) return;
        Campaign(preVote: _config.PreVote && !transfer, transfer);
    }

    private bool HasUnappliedMembershipChange()
    {
        if (_log.Committed <= _membershipIndex) return false;
        var entries = _log.Slice(Math.Max(_membershipIndex + 1, _log.FirstIndex), _log.Committed + 1, long.MaxValue);
        return entries is not null && entries.Any(e => e.Type == EntryType.MembershipChange);
    }

    private void Campaign(bool preVote, bool transfer)
    {
        long voteTerm;
        MessageType type;
        if (preVote)
        {
            BecomePreCandidate();
            voteTerm = Term + 1;
            type = MessageType.PreVote;
        }
        else
        {
            BecomeCandidate();
            voteTerm = Term;
            type = MessageType.Vote;
        }
        _tracker.RecordVote(Id, true);
        if (_tracker.TallyVotes() == VoteResult.Won)
        {
            // A single voter wins at once.
            if (preVote) Campaign(preVote: false, transfer);
            else BecomeLeader();
            return;
        }
        foreach (var voter in _tracker.Membership.Voters)
        {
            if (voter == Id) continue;
            Send(new Message
            {
                Type = type,
                To = voter,
                Term = voteTerm,
                Index = _log.LastIndex,
                LogTerm = _log.LastTerm,
                LeaderTransfer = transfer,
            });
        }
    }

    private void HandleVoteRequest(Message m)
    {
        var responseType = m.Type == MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
        var canVote = _vote == m.From
            || (_vote == 0 && Leader == 0)
            || (m.Type == MessageType.PreVote && m.Term > Term);
        if (canVote && _log.IsUpToDate(m.Index, m.LogTerm))
        {
            // Answer at the requested term: a granted pre-vote must not look stale to the pre-candidate.
            Send(new Message { Type = responseType, To = m.From, Term = m.Term });
            if (m.Type == MessageType.Vote)
            {
                _electionElapsed = 0;
                _vote = m.From;
            }
        }
        else
        {
            Send(new Message { Type = responseType, To = m.From, Term = Term, Reject = true });
        }
    }

    private void StepTermless(Message m)
    {
        if (m.Type == MessageType.ReadIndexResponse)
        {
            // Valid whenever it arrives: the leader confirmed its leadership after our request was made.
            _readStates.Add(new ReadState(m.Index, m.Context));
            return;
        }
        // A forwarded read reaching a non-leader is dropped; the requester retries.
        if (Role == RaftRole.Leader) LeaderReadIndex(m.From, m.Context);
    }

    private void StepCandidate(Message m)
    {
        switch (m.Type)
        {
            case MessageType.Append:
                BecomeFollower(m.Term, m.From);
                HandleAppend(m);
                break;
            case MessageType.Heartbeat:
                BecomeFollower(m.Term, m.From);
                HandleHeartbeat(m);
                break;
            case MessageType.SnapshotChunk:
                BecomeFollower(m.Term, m.From);
                HandleSnapshotChunk(m);
                break;
            case MessageType.PreVoteResponse when Role == RaftRole.PreCandidate:
            case MessageType.VoteResponse when Role == RaftRole.Candidate:
                _tracker.RecordVote(m.From, !m.Reject);
                switch (_tracker.TallyVotes())
                {
                    case VoteResult.Won:
                        if (Role == RaftRole.PreCandidate)
                        {
                            Campaign(preVote: false, transfer: false);
                        }
                        else
                        {
                            BecomeLeader();
                            BroadcastAppend();
                        }
                        break;
                    case VoteResult.Lost:
                        BecomeFollower(Term, 0);
                        break;
                }
                break;
        }
    }

    private void StepFollower(Message m)
    {
        switch (m.Type)
        {
            case MessageType.Append:
                _electionElapsed = 0;
                Leader = m.From;
                HandleAppend(m);
                break;
            case MessageType.Heartbeat:
                _electionElapsed = 0;
                Leader = m.From;
                HandleHeartbeat(m);
                break;
            case MessageType.SnapshotChunk:
                _electionElapsed = 0;
                Leader = m.From;
                HandleSnapshotChunk(m);
                break;
            case MessageType.TimeoutNow:
                if (Promotable) Hup(transfer: true);
                break;
        }
    }

    private void StepLeader(Message m)
    {
        switch (m.Type)
        {
            case MessageType.AppendResponse:
                HandleAppendResponse(m);
                break;
            case MessageType.HeartbeatResponse:
                HandleHeartbeatResponse(m);
                break;
            case MessageType.SnapshotChunkResponse:
                HandleSnapshotChunkResponse(m);
                break;
        }
    }

    // ---------------------------------------------------------------- follower side

    private void HandleAppend(Message m)
    {
        if (m.Index < _log.Committed)
        {
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = _log.Committed });
            return;
        }
        var lastNew = _log.MaybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries);
        if (lastNew is { } matched)
        {
            // Entries up to m.Index matched and were kept; a conflict could only replace entries above it.
            ForgetPersistedAbove(m.Index);
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = matched });
            return;
        }
        var hintIndex = _log.FindConflictByTerm(Math.Min(m.Index, _log.LastIndex), m.LogTerm);
        Send(new Message
        {
            Type = MessageType.AppendResponse,
            To = m.From,
            Index = m.Index,
            Reject = true,
            RejectHint = hintIndex,
            LogTerm = _log.TermOrZero(hintIndex),
        });
    }

    private void HandleHeartbeat(Message m)
    {
        // The leader sends min(our match, its commit), so this never exceeds what we hold.
        _log.CommitTo(m.Commit);
        Send(new Message { Type = MessageType.HeartbeatResponse, To = m.From, Context = m.Context });
    }

    private void HandleSnapshotChunk(Message m)
    {
        var metadata = m.SnapshotMetadata ?? throw new InvalidOperationException("Snapshot chunk without metadata.");
        if (metadata.Index <= _log.Committed)
        {
            _incomingSnapshot = null;
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = _log.Committed });
            return;
        }
        if (m.SnapshotTotalBytes < 0 || m.SnapshotTotalBytes > _config.SnapshotBytesMax)
        {
            // Dropped, not answered: the size is the sender's word, and trusting it would let one message make
            // us allocate it. The leader keeps re-sending, so an operator sees the counter climb.
            SnapshotChunksRejected++;
            return;
        }
        if (m.ChunkOffset == 0 && (_incomingSnapshot is null || !_incomingSnapshot.Matches(m)))
        {
            _incomingSnapshot = new IncomingSnapshot(metadata, m.From, m.Term, m.SnapshotTotalBytes, _storage);
        }
        var incoming = _incomingSnapshot;
        if (incoming is null || !incoming.Matches(m))
        {
            Send(new Message { Type = MessageType.SnapshotChunkResponse, To = m.From, Index = metadata.Index, ChunkOffset = 0 });
            return;
        }
        if (m.ChunkOffset == incoming.ReceivedBytes && !incoming.Append(m.ChunkData.Span))
        {
            SnapshotChunksRejected++;
            return;
        }
        if (!incoming.Complete)
        {
            Send(new Message { Type = MessageType.SnapshotChunkResponse, To = m.From, Index = metadata.Index, ChunkOffset = incoming.ReceivedBytes });
            return;
        }
        _incomingSnapshot = null;
        var restored = Restore(incoming.ToSnapshot());
        Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = restored ? _log.LastIndex : _log.Committed });
    }

    private bool Restore(Snapshot snapshot)
    {
        if (snapshot.Index <= _log.Committed) return false;
        if (_log.MatchTerm(snapshot.Index, snapshot.Term))
        {
            // We already hold that entry: the snapshot only tells us it is committed.
            _log.CommitTo(snapshot.Index);
            return false;
        }
        _log.Restore(snapshot);
        // The whole log was replaced; the snapshot itself is durable once the driver reports it.
        _persistedIndex = 0;
        _persistedTerm = 0;
        _tracker.SetMembership(snapshot.Metadata.Membership, _log.LastIndex);
        _membershipIndex = snapshot.Index;
        if (Role is RaftRole.Follower or RaftRole.Learner) Role = _tracker.Membership.IsLearner(Id) ? RaftRole.Learner : RaftRole.Follower;
        return true;
    }

    // ---------------------------------------------------------------- leader side

    private ProposeResult? CheckCanPropose()
    {
        if (Role != RaftRole.Leader) return new ProposeResult(ProposeStatus.NotLeader, 0, Term, Leader);
        if (_leadTransferee != 0) return new ProposeResult(ProposeStatus.TransferInProgress, 0, Term, _leadTransferee);
        if (_log.LastIndex - _log.Committed >= _config.MaxUncommittedEntries) return new ProposeResult(ProposeStatus.Overloaded, 0, Term, Id);
        return null;
    }

    private void AppendEntries(EntryType type, ReadOnlyMemory<byte> data)
    {
        Debug.Assert(Role == RaftRole.Leader);
        _log.Append([new LogEntry(Term, _log.LastIndex + 1, type, data)]);
        // Our own copy counts toward commit only once durable: ReportPersisted, not here.
    }

    private bool MaybeCommit()
    {
        Debug.Assert(Role != RaftRole.Leader || _tracker.Get(Id) is not { } self || self.Match <= _persistedIndex, "a leader counts only what it reported durable");
        return _log.MaybeCommit(_tracker.Committed(), Term);
    }

    private void OnCommitAdvanced()
    {
        if (_readsAwaitingTermCommit.Count == 0 || _log.TermOrZero(_log.Committed) != Term) return;
        var waiting = _readsAwaitingTermCommit.ToList();
        _readsAwaitingTermCommit.Clear();
        foreach (var (from, context) in waiting) LeaderReadIndex(from, context);
    }

    private void HandleAppendResponse(Message m)
    {
        var pr = _tracker.Get(m.From);
        if (pr is null) return;
        pr.RecentActive = true;
        if (m.Reject)
        {
            var hint = m.LogTerm > 0 ? _log.FindConflictByTerm(m.RejectHint, m.LogTerm) : m.RejectHint;
            if (pr.MaybeDecreaseTo(m.Index, hint))
            {
                if (pr.State == ProgressState.Replicate) pr.BecomeProbe();
                SendAppend(m.From);
            }
            return;
        }
        var wasPaused = pr.IsPaused;
        if (!pr.MaybeUpdate(m.Index)) return;
        switch (pr.State)
        {
            case ProgressState.Probe:
                pr.BecomeReplicate();
                break;
            case ProgressState.Snapshot when pr.Match + 1 >= _log.FirstIndex:
                pr.BecomeProbe();
                pr.BecomeReplicate();
                break;
            case ProgressState.Replicate:
                pr.Inflights.FreeLessOrEqual(m.Index);
                break;
        }
        if (MaybeCommit())
        {
            OnCommitAdvanced();
            BroadcastAppend();
        }
        else if (wasPaused)
        {
            SendAppend(m.From);
        }
        // Fill the window; bounded because each send either pauses the follower or exhausts the log.
        for (var sends = 0; sends < _config.MaxInflightMessages && SendAppend(m.From, sendIfEmpty: false); sends++)
        {
        }
        if (m.From == _leadTransferee && pr.Match == _log.LastIndex) SendTimeoutNow(m.From);
    }

    private void HandleHeartbeatResponse(Message m)
    {
        var pr = _tracker.Get(m.From);
        if (pr is null) return;
        pr.RecentActive = true;
        pr.ProbeSent = false;
        if (pr.State == ProgressState.Replicate && pr.Inflights.Full) pr.Inflights.FreeFirstOne();
        if (pr.State == ProgressState.Snapshot) SendSnapshotChunk(m.From, pr); // retransmission point for chunks
        else if (pr.Match < _log.LastIndex) SendAppend(m.From);

        if (m.Context.IsEmpty) return;
        var acks = _reads.RecordAck(m.Context.Span, m.From);
        if (acks is null) return;
        if (MajorityQuorum.Tally(_tracker.Membership.Voters, id => acks.Contains(id) ? true : null) != VoteResult.Won) return;
        foreach (var request in _reads.ReleaseThrough(m.Context.Span)) RespondToRead(request.From, request.Index, request.Context);
    }

    private void HandleSnapshotChunkResponse(Message m)
    {
        var pr = _tracker.Get(m.From);
        if (pr is null) return;
        pr.RecentActive = true;
        if (pr.State != ProgressState.Snapshot || m.Index != pr.PendingSnapshotIndex) return;
        if (m.ChunkOffset > pr.SnapshotAckedBytes)
        {
            pr.SnapshotAckedBytes = m.ChunkOffset;
            SendSnapshotChunk(m.From, pr);
        }
        else if (m.ChunkOffset < pr.SnapshotAckedBytes)
        {
            // The follower lost its partial copy (restart); the next heartbeat resends from its offset.
            pr.SnapshotAckedBytes = m.ChunkOffset;
        }
    }

    private bool LeaderReadIndex(long from, ReadOnlyMemory<byte> context)
    {
        // Until an entry of this term commits, our commit index may lag the true one (§8 of the paper). A sole voter
        // too: a restart resumes from the persisted commit, which a commit-only change does not sync, and its own
        // new entry commits only once its sync is reported.
        if (_log.TermOrZero(_log.Committed) != Term)
        {
            if (_readsAwaitingTermCommit.Count >= _config.MaxPendingReads) return false;
            _readsAwaitingTermCommit.Add((from, context));
            return true;
        }
        if (_tracker.Membership.Voters.Count == 1 && _tracker.Membership.IsVoter(Id))
        {
            RespondToRead(from, _log.Committed, context);
            return true;
        }
        if (_reads.Count >= _config.MaxPendingReads) return false;
        _reads.Add(from, context, _log.Committed);
        _reads.RecordAck(context.Span, Id);
        BroadcastHeartbeat(context);
        return true;
    }

    private void RespondToRead(long from, long index, ReadOnlyMemory<byte> context)
    {
        if (from == Id) _readStates.Add(new ReadState(index, context));
        else Send(new Message { Type = MessageType.ReadIndexResponse, To = from, Index = index, Context = context });
    }

    private void BroadcastAppend()
    {
        foreach (var id in _tracker.Progress.Keys)
        {
            if (id != Id) SendAppend(id);
        }
    }

    private void BroadcastHeartbeat(ReadOnlyMemory<byte> context)
    {
        foreach (var (id, pr) in _tracker.Progress)
        {
            if (id == Id) continue;
            Send(new Message { Type = MessageType.Heartbeat, To = id, Commit = Math.Min(pr.Match, _log.Committed), Context = context });
        }
    }

    private bool SendAppend(long to, bool sendIfEmpty = true)
    {
        var pr = _tracker.Get(to);
        if (pr is null || pr.IsPaused) return false;
        var prevIndex = pr.Next - 1;
        if (!_log.TryGetTerm(prevIndex, out var prevTerm)) return SendSnapshot(to, pr);
        var entries = _log.Slice(pr.Next, pr.Next + _config.MaxEntriesPerMessage, _config.MaxBatchBytes);
        if (entries is null) return SendSnapshot(to, pr);
        if (entries.Count == 0 && !sendIfEmpty) return false;
        Send(new Message
        {
            Type = MessageType.Append,
            To = to,
            Index = prevIndex,
            LogTerm = prevTerm,
            Entries = entries,
            Commit = _log.Committed,
        });
        if (pr.State == ProgressState.Replicate && entries.Count > 0)
        {
            var last = entries[^1].Index;
            pr.OptimisticUpdate(last);
            pr.Inflights.Add(last);
        }
        else if (pr.State == ProgressState.Probe)
        {
            pr.ProbeSent = true;
        }
        return true;
    }

    private bool SendSnapshot(long to, Progress pr)
    {
        // An unresponsive member would only waste a large transfer; wait until it answers something.
        if (!pr.RecentActive) return false;
        pr.BecomeSnapshot(_log.Snapshot.Index);
        SendSnapshotChunk(to, pr);
        return true;
    }

    private void SendSnapshotChunk(long to, Progress pr)
    {
        var snapshot = _log.Snapshot;
        if (snapshot.Index != pr.PendingSnapshotIndex)
        {
            // Compacted again mid-transfer: start over with the newer snapshot.
            pr.BecomeSnapshot(snapshot.Index);
        }
        var total = snapshot.Data.Length;
        var offset = (int)Math.Min(pr.SnapshotAckedBytes, total);
        var length = Math.Min(_config.SnapshotChunkBytes, total - offset);
        Send(new Message
        {
            Type = MessageType.SnapshotChunk,
            To = to,
            SnapshotMetadata = snapshot.Metadata,
            ChunkOffset = offset,
            ChunkData = snapshot.Data.Slice(offset, length),
            SnapshotTotalBytes = total,
        });
    }

    private void SendTimeoutNow(long to) =>
        Send(new Message { Type = MessageType.TimeoutNow, To = to, LeaderTransfer = true });

    private void ApplyMembershipChange(LogEntry entry)
    {
        var change = MembershipChange.Decode(entry.Data.Span);
        _membershipIndex = entry.Index;
        // Invalid changes cannot be proposed, but if one is committed every node skips it identically.
        if (_tracker.Membership.Validate(change) is not null) return;
        var next = _tracker.Membership.Apply(change);
        _tracker.SetMembership(next, _log.LastIndex);
        if (Role == RaftRole.Leader)
        {
            if (!next.IsVoter(Id))
            {
                BecomeFollower(Term, 0);
                return;
            }
            if (_leadTransferee != 0 && !next.IsVoter(_leadTransferee)) _leadTransferee = 0;
            // A smaller quorum may commit more at once; new members need their first probe.
            if (MaybeCommit()) OnCommitAdvanced();
            BroadcastAppend();
        }
        else if (!next.IsVoter(Id) && Role is RaftRole.Candidate or RaftRole.PreCandidate)
        {
            BecomeFollower(Term, 0);
        }
        else if (Role is RaftRole.Follower or RaftRole.Learner)
        {
            Role = next.IsLearner(Id) ? RaftRole.Learner : RaftRole.Follower;
        }
    }

    private void Send(Message m)
    {
        var term = m.Type switch
        {
            // Vote traffic carries its own term (future terms for pre-votes); reads are term-agnostic.
            MessageType.Vote or MessageType.PreVote or MessageType.VoteResponse or MessageType.PreVoteResponse => m.Term,
            MessageType.ReadIndex or MessageType.ReadIndexResponse => 0,
            _ => Term,
        };
        Debug.Assert(m.To != Id, "never send to self");
        _messages.Add(m with { From = Id, Term = term });
    }

    public override string ToString() => $"node {Id} {Role} term={Term} vote={_vote} leader={Leader} {_log}";
}
