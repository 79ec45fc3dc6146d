using System.Buffers.Binary;
using System.Text;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>
/// A deterministic, seeded simulation in the manner of TigerBeetle's VOPR: real <see cref="RaftNode"/> cores run by
/// the driver's own <see cref="ReadyProcessor"/> (persist, sync only when the Ready must, send, apply, complete
/// proposals and reads), virtual time, a network that drops, delays, duplicates and reorders, partitions
/// (symmetric and one-way), crashes that lose exactly what was not synced (inside a sync, mid-send, or between
/// steps), restarts, membership changes and leadership transfers. After every step it checks election safety,
/// log matching, leader completeness, commit-index monotonicity, stale-term appends, state-machine safety,
/// proposal completion (a client gets the result of its own command) and read linearizability; at the end,
/// after healing, every acknowledged value must be applied exactly once on every live member.
/// </summary>
public sealed class Simulator
{
    private const int TraceLength = 40;
    private readonly int _seed;
    private readonly SimulatorOptions _options;
    private readonly Random _random;
    private readonly PriorityQueue<SimEvent, (long Time, long Sequence)> _queue = new();
    private readonly SortedDictionary<long, SimNode> _nodes = new();
    private readonly Dictionary<long, long> _tickMs = new();
    private readonly HashSet<(long From, long To)> _blocked = new();
    private readonly string[] _trace = new string[TraceLength];
    private long _traceCount;
    private long _sequence;
    private long _now;
    private long _steps;
    private long _nextNodeId;
    private long _lastSpareId;
    private bool _active = true;
    private double _dropProbability;
    private double _duplicateProbability;
    private double _crashBeforeSyncProbability;
    private double _crashWhileSendingProbability;
    private double _batchProbability;
    private int _maxEntriesPerMessage;
    private int _maxInflightMessages;
    private int _heartbeatTicks;
    private bool _preVote;
    private bool _checkQuorum;

    // Clients.
    private long _nextValue = 1;
    private readonly Dictionary<long, long> _pendingValues = new(); // value -> last proposal time
    private readonly List<long> _acknowledged = new();
    private readonly HashSet<long> _acknowledgedSet = new();
    private long _leaderHint;
    private readonly List<(SimNode Node, long Value, TaskCompletionSource<byte[]> Completion)> _proposals = new();
    private int _proposalsCompleted;

    // Checkers' global knowledge.
    private readonly Dictionary<long, long> _leaderOfTerm = new();
    private readonly Dictionary<(long Index, long Term), (int Hash, long PreviousTerm)> _entriesSeen = new();
    private readonly Dictionary<long, long> _committedTerm = new();

    // For each committed index, the lowest current term of a node seen holding it committed: an upper bound
    // on the term in which it was committed. Leader completeness binds leaders of later terms only (a
    // delayed vote can still crown a lower-term leader after a higher term committed more).
    private readonly Dictionary<long, long> _committedByTerm = new();
    private readonly Dictionary<long, long> _appliedValue = new();
    private readonly List<long> _canonicalValues = new();

    private int _elections, _crashes, _membershipChanges, _snapshots, _readsConfirmed;

    public Simulator(int seed, SimulatorOptions? options = null)
    {
        _seed = seed;
        _options = options ?? new SimulatorOptions();
        _random = new Random(seed);
    }

    public SimulationResult Run()
    {
        try
        {
            return RunCore();
        }
        catch (SimulationFailedException)
        {
            throw;
        }
        catch (Exception e)
        {
            // Assertion-like failures inside the core (e.g. a commit beyond the log) are bugs too.
            throw Fail($"unexpected {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        }
        finally
        {
            foreach (var node in _nodes.Values) node.Storage.Dispose();
            if (_options.WalDirectory is { } directory && Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    private ISimulatedDisk CreateDisk(long id, ClusterMembership? founders)
    {
        if (_options.WalDirectory is { } root)
        {
            var directory = Path.Combine(root, $"node-{id}");
            return founders is null ? WalDisk.Open(directory) : WalDisk.Bootstrap(directory, founders);
        }
        return new SimulatedStorage(founders is null ? new MemoryRaftStorage() : new MemoryRaftStorage(founders));
    }

    private SimulationResult RunCore()
    {
        var voters = _options.Figure8 || _random.Next(2) == 0 ? 5 : 3;
        _dropProbability = _random.NextDouble() * 0.15;
        _duplicateProbability = _random.NextDouble() * 0.05;
        // Power cuts inside a sync (nothing of the Ready reached the disk) and while its messages leave.
        _crashBeforeSyncProbability = _random.NextDouble() * 0.01;
        _crashWhileSendingProbability = _random.NextDouble() * 0.002;
        // How often a node, like the driver's loop, steps several inputs (ticks, messages) before its next Ready.
        _batchProbability = _random.NextDouble() * 0.5;
        // A sole voter's leader is the one whose sync bounds every commit: cut its power there often.
        if (_options.SoleVoter) _crashBeforeSyncProbability = 0.01 + (_random.NextDouble() * 0.04);
        if (_options.Figure8)
        {
            // The script crashes exactly the nodes it needs and restarts them itself.
            _crashBeforeSyncProbability = 0;
            _crashWhileSendingProbability = 0;
        }
        // Small batches split a new leader's no-op from the older entries it repairs, which is what Figure 8
        // needs; small windows exercise probe/replicate transitions.
        _maxEntriesPerMessage = _options.Figure8 ? 1 : new[] { 1, 2, 8 }[_random.Next(3)];
        _maxInflightMessages = new[] { 1, 4, 16 }[_random.Next(3)];
        _heartbeatTicks = _random.Next(1, 4);
        // Mostly the production settings; sometimes without the election dampers, for more term churn.
        _preVote = _random.Next(4) != 0;
        _checkQuorum = _random.Next(4) != 0;
        var membership = _options.SoleVoter
            ? new ClusterMembership([1], [2, 3])
            : new ClusterMembership(Enumerable.Range(1, voters).Select(i => (long)i));
        var founders = membership.Voters.Count + membership.Learners.Count;
        for (var id = 1; id <= founders; id++) StartNode(id, membership);
        _nextNodeId = founders + 1;
        _lastSpareId = founders + _options.SpareNodesMax;

        if (_options.Figure8) Schedule(ScriptStepMs, new SimEvent(SimEventKind.Script));
        else Schedule(_random.Next(50, 300), new SimEvent(SimEventKind.Fault));
        Schedule(_random.Next(1, 30), new SimEvent(SimEventKind.Client));
        Schedule(_random.Next(1, 60), new SimEvent(SimEventKind.Read));
        Schedule(_options.ActiveMs, new SimEvent(SimEventKind.Quiesce));

        var deadline = _options.ActiveMs + _options.QuietMsMax;
        var nextConvergenceCheck = _options.ActiveMs;
        var converged = false;
        while (_queue.TryDequeue(out var ev, out var key))
        {
            _now = key.Time;
            if (_now > deadline) break;
            _steps++;
            Handle(ev);
            if (!_active && _now >= nextConvergenceCheck)
            {
                nextConvergenceCheck = _now + 50;
                if (Converged())
                {
                    converged = true;
                    break;
                }
            }
        }
        if (!converged) throw Fail($"liveness: no convergence {_options.QuietMsMax} ms after healing. {Describe()}");
        CheckFinalState();
        return new SimulationResult(_seed, _steps, _now, _acknowledged.Count, _elections, _crashes, _membershipChanges, _snapshots, _readsConfirmed, _proposalsCompleted, _figure8Formed);
    }

    // ------------------------------------------------------------------ events

    private enum SimEventKind
    {
        Tick,
        Deliver,
        Fault,
        Client,
        Read,
        Restart,
        Retire,
        Quiesce,
        Script,
        Process,
    }

    private sealed record SimEvent(SimEventKind Kind, long Node = 0, Message? Message = null);

    private void Schedule(long delayMs, SimEvent ev) => _queue.Enqueue(ev, (_now + delayMs, _sequence++));

    private void Handle(SimEvent ev)
    {
        switch (ev.Kind)
        {
            case SimEventKind.Tick:
                var ticking = _nodes[ev.Node];
                if (ticking.Retired) return;
                Schedule(_tickMs[ev.Node], ev);
                if (!ticking.Up) return;
                ticking.Processor!.Tick();
                ProcessSoon(ticking);
                break;
            case SimEventKind.Deliver:
                Deliver(ev.Message!);
                break;
            case SimEventKind.Fault:
                if (!_active) return;
                InjectFault();
                Schedule(_random.Next(20, 250), ev);
                break;
            case SimEventKind.Client:
                RunClients();
                Schedule(_random.Next(3, 25), ev);
                break;
            case SimEventKind.Read:
                IssueRead();
                Schedule(_random.Next(10, 80), ev);
                break;
            case SimEventKind.Restart:
                Restart(_nodes[ev.Node]);
                break;
            case SimEventKind.Retire:
                Retire(_nodes[ev.Node]);
                break;
            case SimEventKind.Quiesce:
                Quiesce();
                break;
            case SimEventKind.Process:
                var batched = _nodes[ev.Node];
                batched.ProcessScheduled = false;
                if (batched.Up) Process(batched);
                break;
            case SimEventKind.Script:
                if (!_active || !StepFigure8()) return;
                Schedule(ScriptStepMs, ev);
                break;
        }
    }

    private void Quiesce()
    {
        Trace("quiesce: heal, restart all, no more faults");
        _active = false;
        _blocked.Clear();
        _intercept = null;
        _dropProbability = 0;
        _duplicateProbability = 0;
        _crashBeforeSyncProbability = 0;
        _crashWhileSendingProbability = 0;
        foreach (var node in _nodes.Values.Where(n => !n.Up && !n.Retired)) Restart(node);
    }

    // ------------------------------------------------------------------ nodes

    private void StartNode(long id, ClusterMembership? founders)
    {
        var node = new SimNode(id, CreateDisk(id, founders));
        _nodes[id] = node;
        // Clocks drift: each node ticks at its own rate, within ±20% of the nominal tick.
        _tickMs[id] = Math.Max(1, _options.TickMs + _random.Next(-(int)_options.TickMs / 5, (int)_options.TickMs / 5 + 1));
        Restart(node);
        Schedule(_random.Next(1, (int)_options.TickMs + 1), new SimEvent(SimEventKind.Tick, id));
    }

    private RaftConfig ConfigFor(long id) => new()
    {
        NodeId = id,
        ElectionTicks = 10,
        HeartbeatTicks = _heartbeatTicks,
        MaxInflightMessages = _maxInflightMessages,
        MaxBatchBytes = 256,
        MaxEntriesPerMessage = _maxEntriesPerMessage,
        SnapshotChunkBytes = 64,
        MaxUncommittedEntries = 200,
        PreVote = _preVote,
        CheckQuorum = _checkQuorum,
    };

    private void Restart(SimNode node)
    {
        if (node.Up || node.Retired) return;
        var disk = node.Storage;
        var probe = new SimStorageProbe(
            disk,
            (entries, previousTerm) => CheckPersistedEntries(node, entries, previousTerm),
            () => _random.NextDouble() < _crashBeforeSyncProbability);
        var raft = new RaftNode(ConfigFor(node.Id), probe, new Random(_random.Next()));
        // As the driver starts: the state machine from the snapshot, then the core re-delivers what follows.
        var stateMachine = SimStateMachine.Deserialize(disk.Snapshot.Data.Span);
        stateMachine.Applied = (index, value, position) => Apply(node, index, value, position);
        stateMachine.Restored = () => OnSnapshotInstalled(node);
        var transport = new SimTransport(m =>
        {
            if (_random.NextDouble() < _crashWhileSendingProbability) throw new SimulatedCrashException();
            Send(m);
        });
        node.Raft = raft;
        node.Probe = probe;
        node.StateMachine = stateMachine;
        node.Processor = new ReadyProcessor(raft, probe, stateMachine, transport, incarnation: _random.NextInt64(), readRetryTicks: 10);
        node.Membership = raft.Membership;
        CheckRestoredStateMachine(node);
        node.CommitChecked = raft.Log.FirstIndex - 1;
        // A restart may begin below the commit it knew (only the persisted commit survives); from here on it
        // must only grow.
        node.CommitSeen = raft.Log.Committed;
        node.LeaderTermChecked = 0;
        Trace($"restart {node.Id}: {raft}");
        Process(node);
    }

    private void Crash(SimNode node)
    {
        if (!node.Up) return;
        _crashes++;
        Trace($"crash {node.Id}");
        node.Storage = node.Storage.Crash(_random);
        node.Raft = null;
        node.Processor = null;
        node.Probe = null;
        node.PendingReads.Clear();
        _proposals.RemoveAll(p => p.Node == node);
        if (_active && !_options.Figure8 && _random.NextDouble() < 0.7) Schedule(_random.Next(20, 800), new SimEvent(SimEventKind.Restart, node.Id));
    }

    private void Retire(SimNode node)
    {
        if (node.Retired) return;
        Trace($"retire {node.Id}");
        node.Raft = null;
        node.Processor = null;
        node.Probe = null;
        node.Retired = true;
        node.Storage.Dispose();
        node.PendingReads.Clear();
        _proposals.RemoveAll(p => p.Node == node);
    }

    // ------------------------------------------------------------------ the driver loop

    private void Process(SimNode node)
    {
        try
        {
            // The driver's loop: every Ready through the driver's own processing, then maybe a snapshot.
            while (node.Up && node.Processor!.HandleReady())
            {
                var raft = node.Raft!;
                CheckReads(node);
                CheckMembership(node);
                if (raft.Log.Applied - node.Storage.FirstIndex > 24 && _random.NextDouble() < 0.3)
                {
                    raft.Compact(raft.Log.Applied, node.StateMachine.Serialize());
                }
            }
        }
        catch (SimulatedCrashException)
        {
            Crash(node);
            return;
        }
        if (node.Up) CheckNode(node);
        CheckProposals();
    }

    private void OnSnapshotInstalled(SimNode node)
    {
        _snapshots++;
        CheckRestoredStateMachine(node);
        // Restore runs inside the Ready that carries the snapshot; the core is already restored to it.
        var snapshot = node.Raft!.Log.Unstable.Snapshot ?? node.Storage.Snapshot;
        CheckCommitted(snapshot.Index, snapshot.Term, $"snapshot on {node.Id}", node.Raft.Term);
    }

    private void Send(Message m)
    {
        if (_random.NextDouble() < _dropProbability) return;
        Schedule(Delay(), new SimEvent(SimEventKind.Deliver, Message: m));
        if (_random.NextDouble() < _duplicateProbability) Schedule(Delay(), new SimEvent(SimEventKind.Deliver, Message: m));
    }

    private long Delay() => _random.NextDouble() < 0.05 ? _random.Next(20, 150) : _random.Next(1, 12);

    private void Deliver(Message m)
    {
        if (_blocked.Contains((m.From, m.To))) return;
        if (_intercept is not null)
        {
            var intercepted = _intercept(m);
            if (intercepted is null) return;
            m = intercepted;
        }
        if (!_nodes.TryGetValue(m.To, out var node) || !node.Up) return;
        var raft = node.Raft!;
        if (m.Type == MessageType.Append && m.Term < raft.Term)
        {
            // A stale leader's append must change nothing here: not the log, the commit, the leader or the role.
            var before = (raft.Term, raft.Role, raft.Leader, raft.Log.LastIndex, raft.Log.LastTerm, raft.Log.Committed);
            raft.Step(m);
            var after = (raft.Term, raft.Role, raft.Leader, raft.Log.LastIndex, raft.Log.LastTerm, raft.Log.Committed);
            if (after != before) throw Fail($"stale term: node {node.Id} at term {before.Term} accepted an append of term {m.Term} from {m.From}: {before} became {after}");
        }
        else
        {
            raft.Step(m);
        }
        ProcessSoon(node);
    }

    /// <summary>Handles the node's Readies now, or a moment later so that more inputs are stepped first.</summary>
    private void ProcessSoon(SimNode node)
    {
        if (node.ProcessScheduled) return;
        if (_random.NextDouble() >= _batchProbability)
        {
            Process(node);
            return;
        }
        node.ProcessScheduled = true;
        Schedule(_random.Next(0, 3), new SimEvent(SimEventKind.Process, node.Id));
    }

    private void Apply(SimNode node, long index, long value, int position)
    {
        if (_appliedValue.TryGetValue(index, out var existing))
        {
            if (existing != value) throw Fail($"state-machine safety: node {node.Id} applied value {value} at index {index}, another node applied {existing} there");
        }
        else
        {
            _appliedValue[index] = value;
        }
        CheckCommitted(index, node.Raft!.Log.TermOrZero(index), $"apply on {node.Id}", node.Raft.Term);
        if (position < 0) return;
        if (position < _canonicalValues.Count)
        {
            if (_canonicalValues[position] != value)
            {
                throw Fail($"state-machine safety: node {node.Id} holds value {value} at position {position}, others hold {_canonicalValues[position]}");
            }
        }
        else
        {
            _canonicalValues.Add(value);
        }
        if (_acknowledgedSet.Add(value))
        {
            _acknowledged.Add(value);
            _pendingValues.Remove(value);
        }
    }

    private void CheckMembership(SimNode node)
    {
        var membership = node.Raft!.Membership;
        if (ReferenceEquals(membership, node.Membership)) return;
        // A member that left a committed membership is shut down a little later, as an operator would.
        foreach (var id in node.Membership.Members)
        {
            if (!membership.Contains(id) && _nodes.ContainsKey(id)) Schedule(_random.Next(0, 300), new SimEvent(SimEventKind.Retire, id));
        }
        node.Membership = membership;
    }

    // ------------------------------------------------------------------ clients

    private void RunClients()
    {
        if (_active && _pendingValues.Count < _options.OutstandingValuesMax)
        {
            var value = _nextValue++;
            _pendingValues[value] = _now;
            Propose(value);
        }
        var retries = 0;
        foreach (var (value, last) in _pendingValues.ToList())
        {
            // Proposing one value runs the target's Readies, which may apply another listed here.
            if (!_pendingValues.ContainsKey(value) || _now - last < 150 || retries++ >= 2) continue;
            _pendingValues[value] = _now;
            Propose(value);
        }
    }

    private void Propose(long value)
    {
        var target = PickTarget();
        if (target is null) return;
        var data = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(data, value);
        var completion = new TaskCompletionSource<byte[]>();
        target.Processor!.Propose(data, completion);
        _leaderHint = completion.Task.Exception?.InnerException is NotLeaderException notLeader ? notLeader.LeaderId : target.Id;
        if (!completion.Task.IsCompleted) _proposals.Add((target, value, completion));
        Process(target);
    }

    /// <summary>A client whose proposal completed must have got the result of its own command, at its own entry.</summary>
    private void CheckProposals()
    {
        for (var i = _proposals.Count - 1; i >= 0; i--)
        {
            var (node, value, completion) = _proposals[i];
            if (!completion.Task.IsCompleted) continue;
            _proposals.RemoveAt(i);
            if (!completion.Task.IsCompletedSuccessfully) continue;
            var result = completion.Task.Result;
            if (result.Length != 8)
            {
                throw Fail($"proposal completion: node {node.Id} completed the proposal of value {value} with the empty result of a no-op or membership entry");
            }
            var resultValue = BinaryPrimitives.ReadInt64LittleEndian(result);
            if (resultValue != value) throw Fail($"proposal completion: node {node.Id} completed the proposal of value {value} with the result of value {resultValue}");
            if (!_acknowledgedSet.Contains(value)) throw Fail($"proposal completion: value {value} acknowledged by node {node.Id} before it was applied");
            _proposalsCompleted++;
        }
    }

    private SimNode? PickTarget()
    {
        if (_leaderHint != 0 && _nodes.TryGetValue(_leaderHint, out var hinted) && hinted.Up && _random.NextDouble() < 0.9) return hinted;
        var up = _nodes.Values.Where(n => n.Up).ToList();
        return up.Count == 0 ? null : up[_random.Next(up.Count)];
    }

    private void IssueRead()
    {
        var up = _nodes.Values.Where(n => n.Up).ToList();
        if (up.Count == 0) return;
        var node = up[_random.Next(up.Count)];
        var completion = new TaskCompletionSource();
        node.Processor!.Read(completion, CancellationToken.None);
        node.Processor.IssueReads();
        // Everything applied anywhere is committed, so a read that starts now must observe all of it.
        node.PendingReads.Add((completion, _canonicalValues.Count, _now));
        Process(node);
    }

    // ------------------------------------------------------------------ faults

    private void InjectFault()
    {
        var roll = _random.Next(100);
        var ids = _nodes.Values.Where(n => !n.Retired).Select(n => n.Id).ToList();
        if (roll < 14)
        {
            _blocked.Clear();
            var side = ids.Where(_ => _random.Next(2) == 0).ToHashSet();
            foreach (var a in ids)
            {
                foreach (var b in ids)
                {
                    if (side.Contains(a) != side.Contains(b)) _blocked.Add((a, b));
                }
            }
            Trace($"partition [{string.Join(",", side)}] | rest");
        }
        else if (roll < 22)
        {
            var a = ids[_random.Next(ids.Count)];
            var b = ids[_random.Next(ids.Count)];
            if (a != b) _blocked.Add((a, b));
            Trace($"one-way cut {a}->{b}");
        }
        else if (roll < 45)
        {
            _blocked.Clear();
            Trace("heal");
        }
        else if (roll < 60)
        {
            var up = _nodes.Values.Where(n => n.Up).ToList();
            if (up.Count > 0) Crash(up[_random.Next(up.Count)]);
        }
        else if (roll < 75)
        {
            var down = _nodes.Values.Where(n => !n.Up && !n.Retired).ToList();
            if (down.Count > 0) Restart(down[_random.Next(down.Count)]);
        }
        else if (roll < 84)
        {
            ChangeMembership();
        }
        else if (roll < 94)
        {
            // Leader churn: Figure 8 style histories need leaders that fall mid-replication.
            var leader = CurrentLeader();
            if (leader is null) return;
            if (_random.Next(2) == 0)
            {
                Crash(leader);
            }
            else
            {
                _blocked.Clear();
                foreach (var other in ids.Where(i => i != leader.Id))
                {
                    _blocked.Add((leader.Id, other));
                    _blocked.Add((other, leader.Id));
                }
                Trace($"isolate leader {leader.Id}");
            }
        }
        else
        {
            var leader = CurrentLeader();
            if (leader is null) return;
            var voters = leader.Raft!.Membership.Voters.Where(v => v != leader.Id).ToList();
            if (voters.Count == 0) return;
            var target = voters[_random.Next(voters.Count)];
            Trace($"transfer {leader.Id}->{target}");
            leader.Raft.TransferLeadership(target);
            Process(leader);
        }
    }

    private SimNode? CurrentLeader() =>
        _nodes.Values.Where(n => n.Up && n.Raft!.Role == RaftRole.Leader).OrderByDescending(n => n.Raft!.Term).FirstOrDefault();

    private void ChangeMembership()
    {
        var leader = CurrentLeader();
        if (leader is null) return;
        var membership = leader.Raft!.Membership;
        var options = new List<MembershipChange>();
        var spare = _nextNodeId <= _lastSpareId ? _nextNodeId : 0;
        if (spare != 0)
        {
            options.Add(new MembershipChange(MembershipChangeKind.AddLearner, spare));
            if (membership.Voters.Count < 5 && !_options.SoleVoter) options.Add(new MembershipChange(MembershipChangeKind.AddVoter, spare));
        }
        if (membership.Voters.Count < 5 && !_options.SoleVoter) options.AddRange(membership.Learners.Select(l => new MembershipChange(MembershipChangeKind.PromoteLearner, l)));
        options.AddRange(membership.Learners.Select(l => new MembershipChange(MembershipChangeKind.Remove, l)));
        // Keep three voters so the cluster can always make progress again once healed.
        if (membership.Voters.Count > 3) options.AddRange(membership.Voters.Select(v => new MembershipChange(MembershipChangeKind.Remove, v)));
        if (options.Count == 0) return;
        var change = options[_random.Next(options.Count)];
        var completion = new TaskCompletionSource<ClusterMembership>();
        leader.Processor!.ProposeMembershipChange(change, completion);
        var accepted = !completion.Task.IsCompleted;
        Trace($"membership {change} via {leader.Id}: {(accepted ? "accepted" : "refused")}");
        if (accepted)
        {
            _membershipChanges++;
            if (change.NodeId == spare)
            {
                _nextNodeId++;
                StartNode(spare, null);
            }
        }
        Process(leader);
    }

    // ------------------------------------------------------------------ Figure 8

    private const int ScriptStepMs = 5;

    private enum Figure8Phase
    {
        AwaitStableLeader,
        AwaitOldEntryOnOneFollower,
        AwaitRivalLeader,
        AwaitOldEntryOnMajority,
        AwaitRivalReelected,
        Done,
    }

    private Figure8Phase _phase;
    private long _phaseDeadline;
    private long _oldLeader, _oldFollower, _oldIndex, _oldTerm, _rival, _rivalTerm, _reelected;
    private int _figure8Formed;
    private Func<Message, Message?>? _intercept;

    /// <summary>
    /// Figure 8 of the Raft paper, played with the driver's code on every node and seeded timing: (a) leader S1
    /// replicates an entry x only to S2; (b) S1 fails, a rival wins among the other three, appends an entry of its
    /// term at x's index that reaches nobody, and fails; (c) S1 or S2 leads again at a later term and copies x to
    /// a third server, so x sits on a majority, while its own term's entries get nowhere; it must not count those
    /// replicas to commit x; (d) it fails, and the rival, whose last term is higher, wins and overwrites x. A leader
    /// that committed x in (c) has applied it, so the overwrite trips state-machine safety and leader completeness.
    /// Returns false once the script ended (done, or a step that did not happen in time: the run goes on unscripted).
    /// </summary>
    private bool StepFigure8()
    {
        if (_phase != Figure8Phase.AwaitStableLeader && _now > _phaseDeadline)
        {
            Trace($"figure 8: gave up waiting in {_phase}");
            EndScript();
            return false;
        }
        switch (_phase)
        {
            case Figure8Phase.AwaitStableLeader:
                {
                    var leader = CurrentLeader();
                    if (_now < 300 || leader is null || _nodes.Values.Any(n => !n.Up) || leader.Raft!.Log.TermOrZero(leader.Raft.Log.Committed) != leader.Raft.Term) return true;
                    var others = _nodes.Keys.Where(id => id != leader.Id).ToList();
                    _oldLeader = leader.Id;
                    _oldFollower = others[_random.Next(others.Count)];
                    Partition([_oldLeader, _oldFollower]);
                    var data = new byte[8];
                    BinaryPrimitives.WriteInt64LittleEndian(data, _nextValue++);
                    leader.Processor!.Propose(data, new TaskCompletionSource<byte[]>());
                    _oldIndex = leader.Raft!.Log.LastIndex;
                    _oldTerm = leader.Raft.Term;
                    Trace($"figure 8 (a): {_oldLeader} appends x=({_oldIndex},{_oldTerm}), reaching only {_oldFollower}");
                    Process(leader);
                    Next(Figure8Phase.AwaitOldEntryOnOneFollower, 1000);
                    return true;
                }
            case Figure8Phase.AwaitOldEntryOnOneFollower:
                {
                    if (!Holds(_oldFollower, _oldIndex, _oldTerm)) return true;
                    Crash(_nodes[_oldLeader]);
                    Partition([_oldFollower]);
                    // The rival's entries must reach nobody: only its heartbeats (and votes) get through.
                    _intercept = m => m.Type == MessageType.Append && m.Entries.Count > 0 && m.From != _oldLeader && m.From != _oldFollower ? null : m;
                    Trace($"figure 8 (b): crash {_oldLeader}, the other three elect a rival");
                    Next(Figure8Phase.AwaitRivalLeader, 3000);
                    return true;
                }
            case Figure8Phase.AwaitRivalLeader:
                {
                    var rival = CurrentLeader();
                    // Its own no-op is its last entry: at or below x's index, so it conflicts with x there or before.
                    if (rival is null || rival.Id == _oldFollower || rival.Raft!.Term <= _oldTerm || rival.Raft.Log.LastTerm != rival.Raft.Term) return true;
                    if (rival.Probe!.Syncs == 0 || rival.Raft.Log.Unstable.Entries.Count > 0) return true;
                    _rival = rival.Id;
                    _rivalTerm = rival.Raft.Term;
                    var rivalLast = rival.Raft.Log.LastIndex;
                    Crash(rival);
                    _blocked.Clear();
                    Restart(_nodes[_oldLeader]);
                    // S1 or S2 leads again; of its appends only entries up to x's term get through, so x can reach a
                    // majority while no entry of the new term does.
                    _intercept = m =>
                    {
                        if (m.Type != MessageType.Append) return m;
                        if (m.From != _oldLeader && m.From != _oldFollower) return m.Entries.Count > 0 ? null : m;
                        return m.Entries.Any(e => e.Term > _oldTerm) ? m with { Entries = m.Entries.Where(e => e.Term <= _oldTerm).ToList() } : m;
                    };
                    Trace($"figure 8 (c): rival {_rival} wrote ({rivalLast},{_rivalTerm}) and crashed; {_oldLeader} restarts");
                    Next(Figure8Phase.AwaitOldEntryOnMajority, 3000);
                    return true;
                }
            case Figure8Phase.AwaitOldEntryOnMajority:
                {
                    var leader = CurrentLeader();
                    if (leader is null || (leader.Id != _oldLeader && leader.Id != _oldFollower) || leader.Raft!.Term <= _rivalTerm) return true;
                    var third = _nodes.Keys.FirstOrDefault(id => id != _oldLeader && id != _oldFollower && id != _rival && leader.Raft.ProgressOf(id) is { } p && p.Match >= _oldIndex);
                    if (third == 0) return true;
                    _reelected = leader.Id;
                    var survivor = _reelected == _oldLeader ? _oldFollower : _oldLeader;
                    _figure8Formed++;
                    Trace($"figure 8 (d): x on {_reelected}, {survivor}, {third} under term {leader.Raft.Term} (commit {leader.Raft.Log.Committed}); crash {_reelected}, rival {_rival} returns");
                    Crash(leader);
                    _intercept = null;
                    Partition([survivor]);
                    Restart(_nodes[_rival]);
                    Next(Figure8Phase.AwaitRivalReelected, 3000);
                    return true;
                }
            case Figure8Phase.AwaitRivalReelected:
                {
                    var leader = CurrentLeader();
                    if (leader is null || leader.Raft!.Log.Committed < _oldIndex) return true;
                    Trace($"figure 8: {leader.Id} leads term {leader.Raft.Term} with ({_oldIndex},{leader.Raft.Log.TermOrZero(_oldIndex)}) committed");
                    EndScript();
                    return false;
                }
            default:
                return false;
        }
    }

    private void Next(Figure8Phase phase, long withinMs)
    {
        _phase = phase;
        _phaseDeadline = _now + withinMs;
    }

    private void EndScript()
    {
        _phase = Figure8Phase.Done;
        _intercept = null;
        _blocked.Clear();
        foreach (var node in _nodes.Values.Where(n => !n.Up && !n.Retired)) Restart(node);
    }

    private bool Holds(long id, long index, long term) => _nodes[id] is { Up: true } node && node.Raft!.Log.TermOrZero(index) == term;

    /// <summary>Cuts <paramref name="side"/> off from every other node, both ways.</summary>
    private void Partition(IReadOnlyCollection<long> side)
    {
        _blocked.Clear();
        foreach (var a in _nodes.Keys)
        {
            foreach (var b in _nodes.Keys)
            {
                if (side.Contains(a) != side.Contains(b)) _blocked.Add((a, b));
            }
        }
    }

    // ------------------------------------------------------------------ checkers

    private void CheckPersistedEntries(SimNode node, IReadOnlyList<LogEntry> entries, long previousTermOnDisk)
    {
        // Log matching, by induction: if every (index, term) names one payload and one predecessor term
        // across all nodes, then equal (index, term) implies equal prefixes.
        for (var i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            var previousTerm = i > 0 ? entries[i - 1].Term : previousTermOnDisk;
            var fingerprint = (EntryHash(e), previousTerm);
            if (_entriesSeen.TryGetValue((e.Index, e.Term), out var seen))
            {
                if (seen != fingerprint)
                {
                    throw Fail($"log matching: node {node.Id} entry ({e.Index},{e.Term}) differs in payload or predecessor term ({previousTerm} vs {seen.PreviousTerm})");
                }
            }
            else
            {
                _entriesSeen[(e.Index, e.Term)] = fingerprint;
            }
        }
    }

    private void CheckNode(SimNode node)
    {
        var raft = node.Raft!;
        if (raft.Log.Committed > raft.Log.LastIndex) throw Fail($"node {node.Id} commit {raft.Log.Committed} beyond last {raft.Log.LastIndex}");
        if (raft.Log.Committed < node.CommitSeen) throw Fail($"commit monotonicity: node {node.Id} commit went back from {node.CommitSeen} to {raft.Log.Committed}");
        node.CommitSeen = raft.Log.Committed;
        if (node.Processor!.Applied != raft.Log.Applied) throw Fail($"node {node.Id} applied {node.Processor.Applied} to its state machine but the core says {raft.Log.Applied}");

        for (var i = Math.Max(node.CommitChecked + 1, raft.Log.FirstIndex); i <= raft.Log.Committed; i++)
        {
            CheckCommitted(i, raft.Log.TermOrZero(i), $"commit on {node.Id}", raft.Term);
        }
        node.CommitChecked = Math.Max(node.CommitChecked, raft.Log.Committed);

        if (raft.Role == RaftRole.Leader)
        {
            if (_leaderOfTerm.TryGetValue(raft.Term, out var other) && other != node.Id)
            {
                throw Fail($"election safety: nodes {other} and {node.Id} both lead term {raft.Term}");
            }
            if (node.LeaderTermChecked != raft.Term)
            {
                _leaderOfTerm[raft.Term] = node.Id;
                node.LeaderTermChecked = raft.Term;
                _elections++;
                CheckLeaderCompleteness(node);
            }
        }
    }

    /// <summary>
    /// Linearizable reads: a read served here (its ReadIndex answered and applied) must observe every value
    /// committed anywhere before it began; values are applied in one order everywhere (state-machine safety), so
    /// that is a count.
    /// </summary>
    private void CheckReads(SimNode node)
    {
        for (var i = node.PendingReads.Count - 1; i >= 0; i--)
        {
            var (completion, committedBefore, started) = node.PendingReads[i];
            if (!completion.Task.IsCompleted) continue;
            node.PendingReads.RemoveAt(i);
            if (!completion.Task.IsCompletedSuccessfully) continue;
            _readsConfirmed++;
            var values = node.StateMachine.Values;
            if (values.Count < committedBefore)
            {
                throw Fail($"linearizability: a read begun at t={started} on node {node.Id} observes {values.Count} values, but {committedBefore} were committed before it began (first missing: {_canonicalValues[values.Count]})");
            }
        }
    }

    private void CheckCommitted(long index, long term, string where, long observerTerm)
    {
        if (index == 0) return;
        if (_committedTerm.TryGetValue(index, out var known))
        {
            if (known != term) throw Fail($"committed entry changed: index {index} term {known} became term {term} ({where})");
            if (observerTerm < _committedByTerm[index]) _committedByTerm[index] = observerTerm;
        }
        else
        {
            _committedTerm[index] = term;
            _committedByTerm[index] = observerTerm;
        }
    }

    private void CheckLeaderCompleteness(SimNode node)
    {
        var raft = node.Raft!;
        var log = raft.Log;
        foreach (var (index, byTerm) in _committedByTerm)
        {
            if (byTerm >= raft.Term || index < log.FirstIndex - 1) continue;
            var term = _committedTerm[index];
            if (!log.TryGetTerm(index, out var held) || held != term)
            {
                throw Fail($"leader completeness: leader {node.Id} of term {raft.Term} lacks entry ({index},{term}) committed by term {byTerm} (its log: {log})");
            }
        }
    }

    private void CheckRestoredStateMachine(SimNode node)
    {
        var values = node.StateMachine.Values;
        for (var i = 0; i < values.Count; i++)
        {
            if (i < _canonicalValues.Count)
            {
                if (_canonicalValues[i] != values[i]) throw Fail($"state-machine safety: node {node.Id} restored value {values[i]} at position {i}, expected {_canonicalValues[i]}");
            }
            else
            {
                _canonicalValues.Add(values[i]);
            }
        }
    }

    private List<SimNode> LiveMembers()
    {
        var leader = CurrentLeader();
        if (leader is null) return new List<SimNode>();
        var membership = leader.Raft!.Membership;
        return _nodes.Values.Where(n => n.Up && membership.Contains(n.Id)).ToList();
    }

    private bool Converged()
    {
        if (_pendingValues.Count > 0) return false;
        var leader = CurrentLeader();
        if (leader is null) return false;
        var members = LiveMembers();
        return members.Count == leader.Raft!.Membership.Members.Count()
            && members.All(n => n.StateMachine.Values.Count == _canonicalValues.Count && n.Raft!.Log.Applied == leader.Raft.Log.Committed);
    }

    private void CheckFinalState()
    {
        foreach (var node in LiveMembers())
        {
            var counts = node.StateMachine.Values.GroupBy(v => v).ToDictionary(g => g.Key, g => g.Count());
            foreach (var value in _acknowledged)
            {
                counts.TryGetValue(value, out var count);
                if (count != 1) throw Fail($"durability: acknowledged value {value} applied {count} times on node {node.Id}");
            }
        }
    }

    // ------------------------------------------------------------------ diagnostics

    private static int EntryHash(LogEntry e)
    {
        var hash = new HashCode();
        hash.Add(e.Type);
        hash.AddBytes(e.Data.Span);
        return hash.ToHashCode();
    }

    private void Trace(string what)
    {
        _trace[_traceCount % TraceLength] = $"t={_now} {what}";
        _traceCount++;
    }

    private string Describe()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"pending values: {_pendingValues.Count} [{string.Join(",", _pendingValues.Keys.Take(8))}], acknowledged: {_acknowledged.Count}, canonical: {_canonicalValues.Count}");
        foreach (var node in _nodes.Values)
        {
            sb.AppendLine(node.Up ? $"  {node.Raft} sm={node.StateMachine.Values.Count} members: {node.Raft!.Membership}" : $"  node {node.Id} {(node.Retired ? "retired" : "down")}");
            if (node.Up && node.Raft!.Role == RaftRole.Leader)
            {
                foreach (var id in node.Raft.Membership.Members) sb.AppendLine($"    progress {id}: {node.Raft.ProgressOf(id)}");
            }
        }
        return sb.ToString();
    }

    private SimulationFailedException Fail(string message)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"{message} (t={_now} ms, step {_steps}{(_options.Figure8 ? ", Figure 8 script: replay with RAFT_FIGURE8=1" : "")})");
        sb.AppendLine("recent faults:");
        for (var i = Math.Max(0, _traceCount - TraceLength); i < _traceCount; i++) sb.AppendLine("  " + _trace[i % TraceLength]);
        sb.Append(Describe());
        return new SimulationFailedException(_seed, sb.ToString());
    }
}
