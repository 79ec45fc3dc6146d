using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;
using RaftHead.Consensus.Membership;

namespace RaftHead.Consensus.Tests.Scenarios;

/// <summary>
/// Thesis §10.2.1: the leader may send entries before they are durable on its own disk, so it must count itself
/// toward commit only for what the driver reported durable (<see cref="RaftNode.ReportPersisted"/>), and that
/// report must not outlive a new leader replacing the entry.
/// </summary>
public sealed class LeaderPersistenceTests
{
    [Fact]
    public void A_leader_counts_its_own_entry_toward_commit_only_once_reported_durable()
    {
        var (node, storage) = NewLeader();
        var x = node.Propose(new byte[] { 1 });
        // Written and sent, but the sync has not returned: no report yet.
        WriteWithoutReport(node, storage);
        node.Step(new Message { Type = MessageType.AppendResponse, From = 2, To = 1, Term = node.Term, Index = x.Index });
        Assert.True(node.Log.Committed < x.Index, "one follower's copy and an unsynced own copy are not a majority of durable copies");

        node.ReportPersisted(x.Index, x.Term);
        Assert.Equal(x.Index, node.Log.Committed);
        // The new commit index goes out at once, not with the next heartbeat.
        Assert.Contains(node.GetReady().Messages, m => m.Type == MessageType.Append && m.Commit == x.Index);
    }

    [Fact]
    public void A_report_for_an_entry_a_new_leader_replaced_does_not_count()
    {
        var (node, storage) = NewLeader();
        var kept = node.Log.LastIndex;
        var keptTerm = node.Term;
        var lost = node.Propose(new byte[] { 1 });
        WriteWithoutReport(node, storage);

        // A new leader of a later term replaces the unsynced entry before our sync returns.
        ReplaceFromNewLeader(node, kept, keptTerm, lost.Index);
        Assert.Equal(keptTerm + 1, node.Log.TermOrZero(lost.Index));
        WriteWithoutReport(node, storage);
        node.ReportPersisted(lost.Index, lost.Term); // the late report of the replaced entry

        // Leading again, it may count itself only through what is really durable: not the replacement.
        ElectSelf(node, storage);
        Assert.Equal(kept, node.ProgressOf(1)!.Match);
    }

    [Fact]
    public void What_was_reported_durable_is_forgotten_when_a_new_leader_truncates_it()
    {
        var (node, storage) = NewLeader();
        var kept = node.Log.LastIndex;
        var keptTerm = node.Term;
        var replaced = node.Propose(new byte[] { 1 });
        WriteWithoutReport(node, storage);
        node.ReportPersisted(replaced.Index, replaced.Term);

        ReplaceFromNewLeader(node, kept, keptTerm, replaced.Index);
        WriteWithoutReport(node, storage);

        ElectSelf(node, storage);
        Assert.Equal(kept, node.ProgressOf(1)!.Match);
    }

    /// <summary>Node 2, leading in the next term, appends its own entry at <paramref name="index"/> after the kept prefix.</summary>
    private static void ReplaceFromNewLeader(RaftNode node, long kept, long keptTerm, long index) =>
        node.Step(new Message
        {
            Type = MessageType.Append,
            From = 2,
            To = 1,
            Term = keptTerm + 1,
            Index = kept,
            LogTerm = keptTerm,
            Entries = [new LogEntry(keptTerm + 1, index, EntryType.Normal, new byte[] { 2 })],
        });

    private static (RaftNode Node, MemoryRaftStorage Storage) NewLeader()
    {
        var storage = new MemoryRaftStorage(new ClusterMembership([1, 2, 3]));
        var node = new RaftNode(new RaftConfig { NodeId = 1, PreVote = false, CheckQuorum = false }, storage, new Random(1));
        ElectSelf(node, storage);
        Drive(node, storage);
        // Follower 2 holds the new leader's no-op: it commits, so the leader may serve proposals as usual.
        node.Step(new Message { Type = MessageType.AppendResponse, From = 2, To = 1, Term = node.Term, Index = node.Log.LastIndex });
        Drive(node, storage);
        Assert.Equal(node.Log.LastIndex, node.Log.Committed);
        return (node, storage);
    }

    private static void ElectSelf(RaftNode node, MemoryRaftStorage storage)
    {
        for (var i = 0; i < 100 && node.Role != RaftRole.Candidate; i++)
        {
            node.Tick();
            Drive(node, storage);
        }
        Assert.Equal(RaftRole.Candidate, node.Role);
        node.Step(new Message { Type = MessageType.VoteResponse, From = 2, To = 1, Term = node.Term });
        Assert.Equal(RaftRole.Leader, node.Role);
    }

    /// <summary>The driver's loop, reporting what it persisted.</summary>
    private static void Drive(RaftNode node, MemoryRaftStorage storage)
    {
        while (node.HasReady)
        {
            var ready = Write(node, storage);
            if (ready.PersistedThrough is { } persisted) node.ReportPersisted(persisted.Index, persisted.Term);
        }
    }

    /// <summary>The driver's loop while its sync is still running: written and advanced, nothing reported.</summary>
    private static void WriteWithoutReport(RaftNode node, MemoryRaftStorage storage)
    {
        while (node.HasReady) Write(node, storage);
    }

    private static Ready Write(RaftNode node, MemoryRaftStorage storage)
    {
        var ready = node.GetReady();
        if (ready.Snapshot is not null) storage.ApplySnapshot(ready.Snapshot);
        storage.Append(ready.Entries);
        if (ready.HardState is { } hardState) storage.SetHardState(hardState);
        node.Advance(ready);
        return ready;
    }
}
