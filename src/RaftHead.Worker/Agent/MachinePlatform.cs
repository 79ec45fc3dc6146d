using RaftHead.Protocol;

namespace RaftHead.Worker.Agent;

/// <summary>What this machine is, in REAPI's platform lexicon and in capacity.</summary>
public static class MachinePlatform
{
    /// <summary>OSFamily and ISA as the lexicon spells them.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Default() =>
        new[] { KeyValuePair.Create(PlatformLexicon.IsaName, PlatformLexicon.Isa), KeyValuePair.Create(PlatformLexicon.OsFamilyName, PlatformLexicon.OsFamily) };

    /// <summary>Memory this process may use (the machine's, or a container's limit).</summary>
    public static ulong MemoryBytes() => (ulong)Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);

    /// <summary>
    /// <paramref name="given"/> over <paramref name="defaults"/>: a name given replaces every default value of that name.
    /// Sorted by name then value, as REAPI wants a platform's properties.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Merge(IReadOnlyList<KeyValuePair<string, string>> defaults, IReadOnlyList<KeyValuePair<string, string>> given)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in given)
        {
            names.Add(property.Key);
        }

        var merged = new List<KeyValuePair<string, string>>(given);
        foreach (var property in defaults)
        {
            if (!names.Contains(property.Key))
            {
                merged.Add(property);
            }
        }

        merged.Sort(static (a, b) =>
        {
            var byName = string.CompareOrdinal(a.Key, b.Key);
            return byName != 0 ? byName : string.CompareOrdinal(a.Value, b.Value);
        });
        return merged;
    }
}
