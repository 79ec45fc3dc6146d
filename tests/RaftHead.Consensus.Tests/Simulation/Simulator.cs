using System.Buffers.Binary;
using System.Text;
using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Tests.Simulation;

/// <summary>
/// A deterministic, seeded simulation in the manner of TigerBeetle's VOPR: real <see cref="RaftNode"/> cores,
/// virtual time, a network that drops, delays, duplicates and reorders, partitions (symmetric and one-way),
/// crashes that lose unsynced writes, restarts, membership changes and leadership transfers. After every step
/// it checks election safety, log matching, leader completeness, state-machine safety and read linearizability;
/// at the end, after healing, every acknowledged value must be applied exactly once on every live member.
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
    private long _nextReadId = 1;
    private readonly Dictionary<long, int> _readsIssued = new(); // read id -> acknowledged count at issue

    // Checkers' global knowledge.
    private readonly Dictionary<long, long> _leaderOfTerm = new();
    private readonly Dictionary<(long Index, long Term), (int Hash, long PreviousTerm)> _entriesSeen = new();
    private readonly Dictionary<long, long> _committedTerm = new();

    // For each committed index, the lowest current term of a node seen holding it committed: an upper bound
    // on the term in which it was committed. Leader completeness binds leaders of later terms only (a
    // delayed vote can still crown a lower-term leader after a higher term committed more).
    private readonly Dictionary<long, long> _committedByTerm = new();
    private readonly Dictionary<long, int> _appliedHash = new();
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
        var voters = _random.Next(2) == 0 ? 3 : 5;
        _dropProbability = _random.NextDouble() * 0.15;
        _duplicateProbability = _random.NextDouble() * 0.05;
        _crashBeforeSyncProbability = _random.NextDouble() * 0.01;
        // Small batches split a new leader's no-op from the older entries it repairs, which is what Figure 8
        // needs; small windows exercise probe/replicate transitions.
        _maxEntriesPerMessage = new[] { 1, 2, 8 }[_random.Next(3)];
        _maxInflightMessages = new[] { 1, 4, 16 }[_random.Next(3)];
        _heartbeatTicks = _random.Next(1, 4);
        // Mostly the production settings; sometimes without the election dampers, for more term churn.
        _preVote = _random.Next(4) != 0;
        _checkQuorum = _random.Next(4) != 0;
        var membership = new ClusterMembership(Enumerable.Range(1, voters).Select(i => (long)i));
        for (var id = 1; id <= voters; id++) StartNode(id, membership);
        _nextNodeId = voters + 1;
        _lastSpareId = voters + _options.SpareNodesMax;

        Schedule(_random.Next(50, 300), new SimEvent(SimEventKind.Fault));
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
        return new SimulationResult(_seed, _steps, _now, _acknowledged.Count, _elections, _crashes, _membershipChanges, _snapshots, _readsConfirmed);
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
                ticking.Raft!.Tick();
                Process(ticking);
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
        }
    }

    private void Quiesce()
    {
        Trace("quiesce: heal, restart all, no more faults");
        _active = false;
        _blocked.Clear();
        _dropProbability = 0;
        _duplicateProbability = 0;
        _crashBeforeSyncProbability = 0;
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
        node.Raft = new RaftNode(ConfigFor(node.Id), node.Storage, new Random(_random.Next()));
        node.StateMachine = SimStateMachine.Deserialize(node.Storage.Snapshot.Data.Span);
        CheckRestoredStateMachine(node);
        node.CommitChecked = node.Raft.Log.FirstIndex - 1;
        node.LeaderTermChecked = 0;
        Trace($"restart {node.Id}: {node.Raft}");
        Process(node);
    }

    private void Crash(SimNode node)
    {
        if (!node.Up) return;
        _crashes++;
        Trace($"crash {node.Id}");
        node.Storage = node.Storage.Crash(_random);
        node.Raft = null;
        node.PendingReadChecks.Clear();
        if (_active && _random.NextDouble() < 0.7) Schedule(_random.Next(20, 800), new SimEvent(SimEventKind.Restart, node.Id));
    }

    private void Retire(SimNode node)
    {
        if (node.Retired) return;
        Trace($"retire {node.Id}");
        node.Raft = null;
        node.Retired = true;
        node.Storage.Dispose();
        node.PendingReadChecks.Clear();
    }

    // ------------------------------------------------------------------ the driver loop

    private void Process(SimNode node)
    {
        while (node.Up && node.Raft!.HasReady)
        {
            var raft = node.Raft;
            var ready = raft.GetReady();
            if (ready.Snapshot is not null) node.Storage.ApplySnapshot(ready.Snapshot);
            node.Storage.Append(ready.Entries);
            if (ready.HardState is { } hs) node.Storage.SetHardState(hs);
            CheckPersistedEntries(node, ready);
            if (ready.MustSync && _random.NextDouble() < _crashBeforeSyncProbability)
            {
                Crash(node);
                return;
            }
            node.Storage.Sync();

            foreach (var m in ready.Messages) Send(m);

            if (ready.Snapshot is not null)
            {
                _snapshots++;
                node.StateMachine = SimStateMachine.Deserialize(ready.Snapshot.Data.Span);
                CheckRestoredStateMachine(node);
                CheckCommitted(ready.Snapshot.Index, ready.Snapshot.Term, $"snapshot on {node.Id}", node.Raft!.Term);
            }
            foreach (var entry in ready.CommittedEntries) Apply(node, entry);
            foreach (var read in ready.ReadStates)
            {
                var readId = BinaryPrimitives.ReadInt64LittleEndian(read.Context.Span);
                if (_readsIssued.Remove(readId, out var ackedBefore)) node.PendingReadChecks.Add((read.Index, ackedBefore));
            }
            raft.Advance(ready);

            if (raft.Log.Applied - node.Storage.FirstIndex > 24 && _random.NextDouble() < 0.3)
            {
                raft.Compact(raft.Log.Applied, node.StateMachine.Serialize());
            }
        }
        if (node.Up) CheckNode(node);
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
        if (!_nodes.TryGetValue(m.To, out var node) || !node.Up) return;
        node.Raft!.Step(m);
        Process(node);
    }

    private void Apply(SimNode node, LogEntry entry)
    {
        var hash = EntryHash(entry);
        if (_appliedHash.TryGetValue(entry.Index, out var existing))
        {
            if (existing != hash) throw Fail($"state-machine safety: node {node.Id} applied a different entry at index {entry.Index}");
        }
        else
        {
            _appliedHash[entry.Index] = hash;
        }
        CheckCommitted(entry.Index, entry.Term, $"apply on {node.Id}", node.Raft!.Term);

        if (entry.Type == EntryType.MembershipChange)
        {
            var change = MembershipChange.Decode(entry.Data.Span);
            if (change.Kind == MembershipChangeKind.Remove) Schedule(_random.Next(0, 300), new SimEvent(SimEventKind.Retire, change.NodeId));
            return;
        }
        if (entry.Data.Length != 8) return; // a leader's no-op
        var value = BinaryPrimitives.ReadInt64LittleEndian(entry.Data.Span);
        var position = node.StateMachine.Apply(value);
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
            if (_now - last < 150 || retries++ >= 2) continue;
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
        var result = target.Raft!.Propose(data);
        _leaderHint = result.Accepted ? target.Id : result.LeaderHint;
        Process(target);
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
        var readId = _nextReadId++;
        var context = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(context, readId);
        if (node.Raft!.ReadIndex(context)) _readsIssued[readId] = _acknowledged.Count;
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
            if (membership.Voters.Count < 5) options.Add(new MembershipChange(MembershipChangeKind.AddVoter, spare));
        }
        if (membership.Voters.Count < 5) options.AddRange(membership.Learners.Select(l => new MembershipChange(MembershipChangeKind.PromoteLearner, l)));
        options.AddRange(membership.Learners.Select(l => new MembershipChange(MembershipChangeKind.Remove, l)));
        // Keep three voters so the cluster can always make progress again once healed.
        if (membership.Voters.Count > 3) options.AddRange(membership.Voters.Select(v => new MembershipChange(MembershipChangeKind.Remove, v)));
        if (options.Count == 0) return;
        var change = options[_random.Next(options.Count)];
        var result = leader.Raft.ProposeMembershipChange(change);
        Trace($"membership {change} via {leader.Id}: {result.Status}");
        if (result.Accepted)
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

    // ------------------------------------------------------------------ checkers

    private void CheckPersistedEntries(SimNode node, Ready ready)
    {
        // Log matching, by induction: if every (index, term) names one payload and one predecessor term
        // across all nodes, then equal (index, term) implies equal prefixes.
        for (var i = 0; i < ready.Entries.Count; i++)
        {
            var e = ready.Entries[i];
            var previousTerm = i > 0 ? ready.Entries[i - 1].Term : node.Raft!.Log.TermOrZero(e.Index - 1);
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

        for (var i = node.PendingReadChecks.Count - 1; i >= 0; i--)
        {
            var (index, ackedBefore) = node.PendingReadChecks[i];
            if (raft.Log.Applied < index) continue;
            node.PendingReadChecks.RemoveAt(i);
            _readsConfirmed++;
            for (var k = 0; k < ackedBefore; k++)
            {
                if (!node.StateMachine.Seen.Contains(_acknowledged[k]))
                {
                    throw Fail($"linearizability: read at index {index} on node {node.Id} misses value {_acknowledged[k]} acknowledged before the read began");
                }
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
        sb.AppendLine($"pending values: {_pendingValues.Count}, acknowledged: {_acknowledged.Count}, canonical: {_canonicalValues.Count}");
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
        sb.AppendLine($"{message} (t={_now} ms, step {_steps})");
        sb.AppendLine("recent faults:");
        for (var i = Math.Max(0, _traceCount - TraceLength); i < _traceCount; i++) sb.AppendLine("  " + _trace[i % TraceLength]);
        sb.Append(Describe());
        return new SimulationFailedException(_seed, sb.ToString());
    }
}
