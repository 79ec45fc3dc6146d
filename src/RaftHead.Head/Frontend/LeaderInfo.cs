namespace RaftHead.Head.Frontend;

/// <summary>Who leads, as one replica sees it. <paramref name="LeaderId"/> 0: none known.</summary>
/// <param name="Term">Changes with every election, so a duty that depends on leadership can tell a new term from the old.</param>
public sealed record LeaderInfo(bool IsLeader, long LeaderId, string? LeaderAddress, long Term);
