namespace RaftHead.Consensus.Core;

public enum EntryType : byte
{
    Normal = 1,

    /// <summary>The payload is an encoded <see cref="Membership.MembershipChange"/>.</summary>
    MembershipChange = 2,
}
