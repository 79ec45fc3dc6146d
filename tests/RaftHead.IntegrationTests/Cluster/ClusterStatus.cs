using System.Text.Json.Nodes;

namespace RaftHead.IntegrationTests.Cluster;

/// <summary>What <c>rh status --json</c> printed, and its exit code.</summary>
public sealed class ClusterStatus
{
    public ClusterStatus(ProcessResult result)
    {
        Result = result;
        Json = result.StandardOutput.Length > 0 ? JsonNode.Parse(result.StandardOutput) : null;
    }

    public ProcessResult Result { get; }

    public JsonNode? Json { get; }

    public long? Leader => Json?["leader"]?["id"]?.GetValue<long>();

    public IReadOnlyList<Member> Members =>
        Json?["members"]?.AsArray().Select(m => new Member(
            m!["id"]!.GetValue<long>(),
            m["address"]!.GetValue<string>(),
            m["up"]!.GetValue<bool>(),
            m["role"]?.GetValue<string>(),
            m["pid"]?.GetValue<int>())).ToList() ?? [];

    public int Workers => Json?["workers"]?.AsArray().Count ?? 0;

    public Member Member(long id) => Members.Single(m => m.Id == id);

    public override string ToString() => Result.Describe();
}

public sealed record Member(long Id, string Address, bool Up, string? Role, int? Pid);
