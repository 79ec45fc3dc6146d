namespace RaftHead.Consensus.Quorum;

public enum VoteResult
{
    /// <summary>Neither a majority of grants nor of rejections yet.</summary>
    Pending,
    Won,
    Lost,
}
