namespace RaftHead.Consensus.Core;

/// <summary>
/// Outcome of a proposal. Accepted means appended to the leader's log at <paramref name="Index"/>/<paramref name="Term"/>,
/// not committed: the entry is committed only if it later appears in committed entries at that index and term.
/// </summary>
public sealed record ProposeResult(ProposeStatus Status, long Index, long Term, long LeaderHint)
{
    public bool Accepted => Status == ProposeStatus.Accepted;
}
