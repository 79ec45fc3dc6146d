using RaftHead.Protocol.V1;

namespace RaftHead.Cli;

/// <summary>One line of <c>rh status</c>'s member table.</summary>
/// <param name="Id">Null for an endpoint asked that no member list names.</param>
/// <param name="Answer">Null when the member did not answer.</param>
/// <param name="Failure">Why it did not.</param>
internal sealed record MemberRow(long? Id, string Address, GetNodeStatusResponse? Answer, string? Failure)
{
    public string IdText => Id?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?";
}
