using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Execution;

/// <summary>Decides whether this node satisfies an action's platform properties.</summary>
internal static class PlatformMatcher
{
    /// <summary>
    /// Every requested property the node cannot satisfy, with the reason; empty when all are satisfied (an empty
    /// platform always is). Names compare exactly, as REAPI's lexicon spells them; values ignore case, because clients
    /// disagree on case (Bazel users write <c>OSFamily=Linux</c>, the lexicon says <c>linux</c>).
    /// </summary>
    public static List<(string Property, string Reason)> FindUnsatisfied(Platform? platform, IReadOnlyDictionary<string, IReadOnlyList<string>> offered)
    {
        var problems = new List<(string, string)>();
        if (platform is null)
        {
            return problems;
        }

        foreach (var property in platform.Properties)
        {
            var shown = $"{property.Name}={property.Value}";
            if (!offered.TryGetValue(property.Name, out var values))
            {
                problems.Add((shown, "this node offers no property named " + property.Name));
            }
            else if (!values.Contains(property.Value, StringComparer.OrdinalIgnoreCase))
            {
                problems.Add((shown, $"this node offers {property.Name}={string.Join('|', values)}"));
            }
        }

        return problems;
    }
}
