namespace RaftHead.Consensus.Driver;

/// <summary>
/// This replica cannot take the request: it is not the leader (or leadership moved while the request was
/// pending). <see cref="LeaderId"/> and <see cref="LeaderAddress"/> hint where to retry (0 / null when unknown).
/// When <see cref="MayHaveCommitted"/> is true the proposal was appended before leadership was lost and may
/// still commit: retry only with an idempotency key the state machine dedupes.
/// </summary>
public sealed class NotLeaderException : Exception
{
    public NotLeaderException(long nodeId, long leaderId, string? leaderAddress, bool mayHaveCommitted = false)
        : base(Describe(nodeId, leaderId, leaderAddress, mayHaveCommitted))
    {
        NodeId = nodeId;
        LeaderId = leaderId;
        LeaderAddress = leaderAddress;
        MayHaveCommitted = mayHaveCommitted;
    }

    /// <summary>The replica that refused.</summary>
    public long NodeId { get; }

    public long LeaderId { get; }

    public string? LeaderAddress { get; }

    public bool MayHaveCommitted { get; }

    private static string Describe(long nodeId, long leaderId, string? leaderAddress, bool mayHaveCommitted)
    {
        var hint = leaderId == 0 ? "no leader is known" : $"the leader is node {leaderId}{(leaderAddress is null ? "" : " at " + leaderAddress)}";
        var outcome = mayHaveCommitted ? "; leadership was lost after the proposal was appended, so it may still commit" : "";
        return $"Node {nodeId} is not the leader: {hint}{outcome}.";
    }
}
