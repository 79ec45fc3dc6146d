using System.Text;
using Build.Bazel.Remote.Execution.V2;

namespace RaftHead.Head.Scheduling;

/// <summary>
/// How an action's platform meets a worker's. Every property the action asks for must be offered by the worker (a
/// worker offers several values of one name by listing the name once per value). Names compare exactly, as REAPI's
/// lexicon spells them; values ignore case, because clients disagree on it (<c>OSFamily=Linux</c> and <c>linux</c>).
/// </summary>
public static class PlatformRules
{
    // A character no property name or value of a real platform contains; keeps the key unambiguous.
    private const char Separator = '\u001f';

    /// <summary>The queue an action waits in: its properties sorted, values lowercased; "" for an empty platform.</summary>
    public static string Key(Platform? platform)
    {
        if (platform is null || platform.Properties.Count == 0)
        {
            return "";
        }

        var pairs = new List<(string Name, string Value)>(platform.Properties.Count);
        foreach (var property in platform.Properties)
        {
            pairs.Add((property.Name, property.Value.ToLowerInvariant()));
        }

        pairs.Sort(static (a, b) =>
        {
            var byName = string.CompareOrdinal(a.Name, b.Name);
            return byName != 0 ? byName : string.CompareOrdinal(a.Value, b.Value);
        });
        var key = new StringBuilder();
        foreach (var (name, value) in pairs)
        {
            key.Append(name).Append('=').Append(value).Append(Separator);
        }

        return key.ToString();
    }

    /// <summary>True when <paramref name="offered"/> has every property of <paramref name="requested"/>.</summary>
    public static bool Satisfies(Platform? offered, Platform? requested)
    {
        if (requested is null)
        {
            return true;
        }

        foreach (var want in requested.Properties)
        {
            var found = false;
            if (offered is not null)
            {
                foreach (var have in offered.Properties)
                {
                    if (string.Equals(have.Name, want.Name, StringComparison.Ordinal) && string.Equals(have.Value, want.Value, StringComparison.OrdinalIgnoreCase))
                    {
                        found = true;
                        break;
                    }
                }
            }

            if (!found)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Null when every property has a name and neither contains the key separator; otherwise the problem.</summary>
    public static string? Validate(Platform? platform, string field)
    {
        if (platform is null)
        {
            return null;
        }

        foreach (var property in platform.Properties)
        {
            if (property.Name.Length == 0)
            {
                return field + ": a property has no name";
            }

            if (property.Name.Contains(Separator, StringComparison.Ordinal) || property.Value.Contains(Separator, StringComparison.Ordinal))
            {
                return $"{field}: property {property.Name} contains a control character";
            }
        }

        return null;
    }
}
