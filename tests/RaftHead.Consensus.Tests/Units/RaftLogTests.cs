using RaftHead.Consensus.Core;
using RaftHead.Consensus.Log;

namespace RaftHead.Consensus.Tests.Units;

public sealed class RaftLogTests
{
    private static LogEntry E(long index, long term) => new(term, index, EntryType.Normal, new byte[] { (byte)index });

    private static RaftLog LogWith(params (long Index, long Term)[] stable)
    {
        var storage = new MemoryRaftStorage();
        storage.Append(stable.Select(s => E(s.Index, s.Term)).ToList());
        return new RaftLog(storage);
    }

    [Fact]
    public void Matching_appends_are_idempotent_and_conflicts_truncate_the_suffix()
    {
        var log = LogWith((1, 1), (2, 1), (3, 2));
        Assert.Equal(3, log.MaybeAppend(1, 1, 0, [E(2, 1), E(3, 2)]));
        Assert.Empty(log.Unstable.Entries); // nothing new to persist

        Assert.Equal(3, log.MaybeAppend(1, 1, 0, [E(2, 3), E(3, 3)]));
        Assert.Equal(3, log.TermOrZero(2));
        Assert.Equal(2, log.Unstable.Entries.Count);
    }

    [Fact]
    public void An_append_that_does_not_match_the_previous_entry_is_refused()
    {
        var log = LogWith((1, 1), (2, 1));
        Assert.Null(log.MaybeAppend(2, 2, 0, [E(3, 2)]));
        Assert.Null(log.MaybeAppend(5, 1, 0, [E(6, 1)]));
    }

    [Fact]
    public void Overwriting_a_committed_entry_is_an_invariant_violation()
    {
        var log = LogWith((1, 1), (2, 1));
        log.CommitTo(2);
        Assert.Throws<InvalidOperationException>(() => log.MaybeAppend(1, 1, 2, [E(2, 5)]));
    }

    [Fact]
    public void Commit_never_exceeds_the_last_new_entry_of_the_append()
    {
        var log = LogWith((1, 1));
        log.MaybeAppend(1, 1, 100, [E(2, 1)]);
        Assert.Equal(2, log.Committed);
    }

    [Fact]
    public void Find_conflict_by_term_skips_a_whole_divergent_term()
    {
        var log = LogWith((1, 1), (2, 1), (3, 4), (4, 4), (5, 4));
        Assert.Equal(2, log.FindConflictByTerm(5, 2));
        Assert.Equal(5, log.FindConflictByTerm(5, 4));
        Assert.Equal(0, log.FindConflictByTerm(5, 0));
    }

    [Fact]
    public void Persisted_entries_leave_the_unstable_part_unless_they_were_replaced_meanwhile()
    {
        var log = LogWith();
        log.Append([E(1, 1), E(2, 1)]);
        log.Append([E(2, 2)]);
        log.StableTo(2, 1); // a stale acknowledgement of the replaced entry
        Assert.Equal(2, log.Unstable.Entries.Count);
        log.StableTo(2, 2);
        Assert.Empty(log.Unstable.Entries);
    }

    [Fact]
    public void The_election_restriction_compares_last_term_then_length()
    {
        var log = LogWith((1, 1), (2, 2));
        Assert.True(log.IsUpToDate(1, 3));
        Assert.True(log.IsUpToDate(2, 2));
        Assert.False(log.IsUpToDate(1, 2));
        Assert.False(log.IsUpToDate(9, 1));
    }
}
