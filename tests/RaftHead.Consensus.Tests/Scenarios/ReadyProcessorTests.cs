using RaftHead.Consensus.Core;
using RaftHead.Consensus.Driver;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;
using RaftHead.Consensus.Transport;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>
/// The driver's per-Ready order (thesis §10.2.1): a leader's appends leave before its own fsync, so followers
/// write in parallel; everything that promises something about the local disk (votes, acknowledgements) leaves
/// only after it, and the leader counts its own copy toward commit only once the sync returned.
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
    public void A_sole_voter_commits_only_after_its_sync_and_never_tells_a_learner_a_commit_it_could_lose()
    {
        // A learner told a commit index applies up to it; if that entry were only in this node's unsynced tail,
        // a crash would lose it here while the learner keeps it applied.
        var leader = new Node(1, new ClusterMembership([1], [2]));
        leader.CampaignUntil(RaftRole.Leader);
        leader.HandleReadies();
        // The learner answers the leader's probe, so the leader replicates to it without waiting.
        leader.Raft.Step(new Message { Type = MessageType.AppendResponse, From = 2, To = 1, Term = leader.Raft.Term, Index = leader.Raft.Log.LastIndex });
        leader.HandleReadies();
        leader.Events.Clear();
        var completion = new TaskCompletionSource<byte[]>();
        leader.Processor.Propose(new byte[] { 7 }, completion);
        var index = leader.Raft.Log.LastIndex;
        leader.HandleReadies();

        // The entry leaves before the sync (the learner writes while we flush), carrying the old commit.
        var firstAppend = leader.Events.FindIndex(e => e == "send Append to 2");
        Assert.True(firstAppend >= 0 && firstAppend < leader.Events.IndexOf("sync"), string.Join(", ", leader.Events));
        Assert.Contains(leader.Sent, m => m.To == 2 && m.Type == MessageType.Append && m.Entries.Any(e => e.Index == index) && m.Commit < index);
        // After the sync the leader counts itself, commits, and tells the learner.
        Assert.Equal(index, leader.Raft.Log.Committed);
        Assert.Contains(leader.Sent, m => m.To == 2 && m.Type == MessageType.Append && m.Commit == index);
        Assert.True(completion.Task.IsCompletedSuccessfully);
        Assert.All(leader.SentWithDurable, s => Assert.True(s.Message.Commit <= s.Durable, $"{s.Message} left with only {s.Durable} durable"));
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

        /// <summary>Every message with the last index that was durable here when it left.</summary>
        public List<(Message Message, long Durable)> SentWithDurable { get; } = new();

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
            SentWithDurable.Add((message, Storage.DurableLastIndex));
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
        /// <summary>The last index as of the last <see cref="Sync"/>: what a crash could not take away.</summary>
        public long DurableLastIndex { get; private set; } = inner.LastIndex;

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

        public void Sync()
        {
            events.Add("sync");
            DurableLastIndex = inner.LastIndex;
        }
    }
}
