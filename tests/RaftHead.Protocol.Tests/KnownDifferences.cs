namespace RaftHead.Protocol.Tests;

/// <summary>
/// Differences between our .proto files and an upstream copy that a
/// <see cref="DescriptorComparer"/> accepts. Keys are full names without the leading dot
/// (<c>build.bazel.remote.execution.v2.Command.output_paths</c>). Every entry in the "new in
/// ours" lists must be used by the comparison, so a typo in our files or in these lists still
/// fails; <see cref="Omitted"/> entries describe upstream elements we leave out on purpose and
/// may go unused (they name things only newer upstream copies have).
/// </summary>
internal sealed class KnownDifferences
{
    public static KnownDifferences None => new();

    /// <summary>Messages and enums we define that the upstream copy lacks -> version that added them.</summary>
    public Dictionary<string, string> NewTypes { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Fields we define that the upstream copy lacks -> version that added them.</summary>
    public Dictionary<string, string> NewFields { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Enum values we define that the upstream copy lacks -> version that added them.</summary>
    public Dictionary<string, string> NewEnumValues { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Service methods we define that the upstream copy lacks -> version that added them.</summary>
    public Dictionary<string, string> NewMethods { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Our full field name -> (the upstream copy's name for the same number, version of the rename).</summary>
    public Dictionary<string, (string UpstreamName, string Version)> RenamedFields { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Upstream elements (any kind) we intentionally do not define -> why.</summary>
    public Dictionary<string, string> Omitted { get; init; } = new(StringComparer.Ordinal);

    public IEnumerable<(string List, string Key, string Note)> AllEntries()
    {
        foreach ((string key, string note) in NewTypes)
        {
            yield return (nameof(NewTypes), key, note);
        }

        foreach ((string key, string note) in NewFields)
        {
            yield return (nameof(NewFields), key, note);
        }

        foreach ((string key, string note) in NewEnumValues)
        {
            yield return (nameof(NewEnumValues), key, note);
        }

        foreach ((string key, string note) in NewMethods)
        {
            yield return (nameof(NewMethods), key, note);
        }

        foreach ((string key, (string upstreamName, string version)) in RenamedFields)
        {
            yield return (nameof(RenamedFields), key, $"{upstreamName} ({version})");
        }

        foreach ((string key, string note) in Omitted)
        {
            yield return (nameof(Omitted), key, note);
        }
    }
}
