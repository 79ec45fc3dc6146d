using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>
/// The driver's per-Ready order (thesis §10.2.1): a leader's appends leave before its own fsync, so followers
/// write in parallel; everything that promises something about the local disk (votes, acknowledgements) and
/// any commit index not yet durable here leaves only after it.
/// </summary>
public sealed class ReadyProcessorTests
{
    [Fact]
    public void A_leaders_appends_leave_before_its_fsync_and_a_followers_ack_after_its_own()
    {
        var leader = new Node(1, new ClusterMembership([1, 2, 3]));
        var follower = new Node(2, new ClusterMembership([1, 2, 3]));
        leader.BecomeLeader(voter: 2);
        // The follower answers the new leader's probe, so the leader replicates to it without waiting.
        foreach (var probe in leader.Sent.Where(m => m.To == 2 && m.Type == MessageType.Append).ToList()) follower.Raft.Step(probe);
        follower.HandleReadies();
        foreach (var answer in follower.Sent.Where(m => m.To == 1).ToList()) leader.Raft.Step(answer);
        leader.HandleReadies();
        Assert.Equal(leader.Raft.Log.LastIndex, leader.Raft.ProgressOf(2)!.Match);

        leader.Events.Clear();
        follower.Events.Clear();
        leader.Processor.Propose(new byte[] { 7 }, new TaskCompletionSource<byte[]>());
        leader.HandleReadies();
        var appendTo2 = leader.Events.FindIndex(e => e == "send Append to 2");
        Assert.True(appendTo2 >= 0, string.Join(", ", leader.Events));
        Assert.True(appendTo2 < leader.Events.IndexOf("sync"), string.Join(", ", leader.Events));

        var append = leader.Sent.Last(m => m.To == 2 && m.Type == MessageType.Append && m.Entries.Count > 0);
        follower.Raft.Step(append);
        follower.HandleReadies();
        Assert.True(follower.Events.IndexOf("sync") < follower.Events.IndexOf("send AppendResponse to 1"), string.Join(", ", follower.Events));
    }

    [Fact]
    public void A_candidates_vote_requests_leave_only_after_its_vote_for_itself_is_durable()
    {
        var candidate = new Node(1, new ClusterMembership([1, 2, 3]));
        candidate.CampaignUntil(RaftRole.Candidate);
        Assert.True(candidate.Events.IndexOf("sync") < candidate.Events.IndexOf("send Vote to 2"), string.Join(", ", candidate.Events));
    }

    [Fact]
    public void A_commit_index_that_is_not_durable_yet_waits_for_the_sync()
    {
        // A sole voter commits its fresh entry at once; telling a learner so before the entry is durable here
        // would let the learner apply an entry this node may lose in a crash.
        var leader = new Node(1, new ClusterMembership([1], [2]));
        leader.CampaignUntil(RaftRole.Leader);
        leader.Events.Clear();
        leader.Processor.Propose(new byte[] { 7 }, new TaskCompletionSource<byte[]>());
        leader.HandleReadies();
        var append = leader.Sent.Last(m => m.To == 2 && m.Type == MessageType.Append);
        Assert.True(append.Commit > 0);
        Assert.True(leader.Events.IndexOf("sync") < leader.Events.IndexOf("send Append to 2"), string.Join(", ", leader.Events));
    }

    private sealed class Node : IRaftTransport, IStateMachine
    {
        public Node(long id, ClusterMembership membership)
        {
            Storage = new RecordingStorage(new MemoryRaftStorage(membership), Events);
            Raft = new RaftNode(new RaftConfig { NodeId = id, PreVote = false, CheckQuorum = false }, Storage, new Random((int)id));
            Processor = new ReadyProcessor(Raft, Storage, this, this, incarnation: id, readRetryTicks: 3);
        }

        public List<string> Events { get; } = new();

        public List<Message> Sent { get; } = new();

        public RaftNode Raft { get; }

        public RecordingStorage Storage { get; }

        public ReadyProcessor Processor { get; }

        public void HandleReadies()
        {
            while (Processor.HandleReady())
            {
            }
        }

        public void CampaignUntil(RaftRole role)
        {
            for (var i = 0; i < 100 && Raft.Role != role; i++)
            {
                Processor.Tick();
                HandleReadies();
            }
            Assert.Equal(role, Raft.Role);
        }

        public void BecomeLeader(long voter)
        {
            CampaignUntil(RaftRole.Candidate);
            Raft.Step(new Message { Type = MessageType.VoteResponse, From = voter, To = Raft.Id, Term = Raft.Term });
            HandleReadies();
            Assert.Equal(RaftRole.Leader, Raft.Role);
        }

        public bool Send(Message message)
        {
            Events.Add($"send {message.Type} to {message.To}");
            Sent.Add(message);
            return true;
        }

        public string? AddressOf(long nodeId) => null;

        public byte[] Apply(long index, ReadOnlyMemory<byte> command) => command.ToArray();

        public IStateMachineSnapshot CaptureSnapshot() => throw new NotSupportedException("these tests take no snapshot");

        public void Restore(ReadOnlyMemory<byte> snapshot)
        {
        }
    }

    private sealed class RecordingStorage(MemoryRaftStorage inner, List<string> events) : IRaftStorage
    {
        public long FirstIndex => inner.FirstIndex;

        public long LastIndex => inner.LastIndex;

        public Snapshot Snapshot => inner.Snapshot;

        public RaftInitialState InitialState() => inner.InitialState();

        public bool TryGetTerm(long index, out long term) => inner.TryGetTerm(index, out term);

        public IReadOnlyList<LogEntry> Entries(long low, long highExclusive, long maxBytes) => inner.Entries(low, highExclusive, maxBytes);

        public void Append(IReadOnlyList<LogEntry> entries)
        {
            events.Add("append");
            inner.Append(entries);
        }

        public void SetHardState(HardState hardState)
        {
            events.Add("hard state");
            inner.SetHardState(hardState);
        }

        public void ApplySnapshot(Snapshot snapshot) => inner.ApplySnapshot(snapshot);

        public void Compact(Snapshot snapshot) => inner.Compact(snapshot);

        public void Sync() => events.Add("sync");
    }
}
