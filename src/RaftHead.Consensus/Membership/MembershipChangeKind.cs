namespace RaftHead.Consensus.Membership;

public enum MembershipChangeKind : byte
{
    AddVoter = 1,
    AddLearner = 2,
    PromoteLearner = 3,
    Remove = 4,
}
