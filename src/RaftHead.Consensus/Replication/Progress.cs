using System.Diagnostics;

namespace RaftHead.Consensus.Replication;

/// <summary>The leader's view of one member's log, after etcd's tracker: what matches, what to send next, how.</summary>
public sealed class Progress
{
    public Progress(long next, int maxInflightMessages, bool isLearner)
    {
        Debug.Assert(next >= 1);
        Next = next;
        Inflights = new Inflights(maxInflightMessages);
        IsLearner = isLearner;
    }

    /// <summary>Highest index known to be replicated on this member.</summary>
    public long Match { get; private set; }

    /// <summary>Next index to send.</summary>
    public long Next { get; private set; }

    public ProgressState State { get; private set; } = ProgressState.Probe;

    /// <summary>In Probe: one append is outstanding, so wait for its answer or the next heartbeat.</summary>
    public bool ProbeSent { get; set; }

    /// <summary>In Snapshot: index of the snapshot being transferred.</summary>
    public long PendingSnapshotIndex { get; private set; }

    /// <summary>In Snapshot: bytes the member has acknowledged.</summary>
    public long SnapshotAckedBytes { get; set; }

    /// <summary>Heard from since the last check-quorum round.</summary>
    public bool RecentActive { get; set; }

    public bool IsLearner { get; set; }

    public Inflights Inflights { get; }

    public bool IsPaused => State switch
    {
        ProgressState.Probe => ProbeSent,
        ProgressState.Replicate => Inflights.Full,
        _ => true,
    };

    public void BecomeProbe()
    {
        // Resuming after a snapshot: the member holds at least the snapshot.
        if (State == ProgressState.Snapshot)
        {
            var pending = PendingSnapshotIndex;
            Reset(ProgressState.Probe);
            Next = Math.Max(Match + 1, pending + 1);
        }
        else
        {
            Reset(ProgressState.Probe);
            Next = Match + 1;
        }
    }

    public void BecomeReplicate()
    {
        Reset(ProgressState.Replicate);
        Next = Match + 1;
    }

    public void BecomeSnapshot(long snapshotIndex)
    {
        Reset(ProgressState.Snapshot);
        PendingSnapshotIndex = snapshotIndex;
    }

    /// <summary>Records an acknowledgement of <paramref name="index"/>; false when it is stale.</summary>
    public bool MaybeUpdate(long index)
    {
        var updated = false;
        if (Match < index)
        {
            Match = index;
            updated = true;
            ProbeSent = false;
        }
        Next = Math.Max(Next, index + 1);
        return updated;
    }

    /// <summary>Replicate state sends ahead of acknowledgements.</summary>
    public void OptimisticUpdate(long lastSent) => Next = lastSent + 1;

    /// <summary>
    /// Handles a rejection of the append sent at <paramref name="rejected"/>; <paramref name="matchHint"/> is the
    /// highest index that may still match. Returns false for a stale rejection.
    /// </summary>
    public bool MaybeDecreaseTo(long rejected, long matchHint)
    {
        if (State == ProgressState.Replicate)
        {
            // Already acknowledged beyond this point, so the rejection is from an older, reordered message.
            if (rejected <= Match) return false;
            Next = Match + 1;
            return true;
        }
        // In Probe only the answer to the probe just sent counts.
        if (Next - 1 != rejected) return false;
        Next = Math.Max(Math.Min(rejected, matchHint + 1), Match + 1);
        ProbeSent = false;
        return true;
    }

    /// <summary>Sets Match for the leader's own entry and after a restart of tracking.</summary>
    internal void ResetMatch(long match, long next)
    {
        Match = match;
        Next = next;
    }

    private void Reset(ProgressState state)
    {
        State = state;
        ProbeSent = false;
        PendingSnapshotIndex = 0;
        SnapshotAckedBytes = 0;
        Inflights.Reset();
    }

    public override string ToString() => $"{State} match={Match} next={Next}{(IsLearner ? " learner" : "")}";
}
