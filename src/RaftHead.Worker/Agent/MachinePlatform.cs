using System.Runtime.InteropServices;

namespace RaftHead.Worker.Agent;

/// <summary>What this machine is, in REAPI's platform lexicon and in capacity.</summary>
public static class MachinePlatform
{
    /// <summary>OSFamily and ISA as the lexicon spells them.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Default()
    {
        var os = OperatingSystem.IsLinux() ? "linux"
            : OperatingSystem.IsMacOS() ? "macos"
            : OperatingSystem.IsFreeBSD() ? "freebsd"
            : RuntimeInformation.OSDescription;
        var isa = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "x86-64",
            Architecture.X86 => "x86-32",
            Architecture.Arm64 => "arm-a64",
            Architecture.Arm => "arm-a32",
            var other => other.ToString().ToLowerInvariant(),
        };
        return new[] { KeyValuePair.Create("ISA", isa), KeyValuePair.Create("OSFamily", os) };
    }

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
