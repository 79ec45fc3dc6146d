namespace RaftHead.Worker.Sandbox;

/// <summary>Lexical path rules that keep inputs and outputs inside an action's directory.</summary>
public static class SandboxPath
{
    /// <summary>
    /// Joins a relative REAPI path (forward slashes) to a root. Returns null when the path is absolute, empty where
    /// a name is needed, or climbs out of the root with "..".
    /// </summary>
    public static string? Resolve(string root, string relative)
    {
        if (relative.Length > 0 && relative[0] == '/')
        {
            return null;
        }

        var parts = new List<string>();
        foreach (var part in relative.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (parts.Count == 0)
                {
                    return null;
                }

                parts.RemoveAt(parts.Count - 1);
                continue;
            }

            parts.Add(part);
        }

        return parts.Count == 0 ? root : Path.Combine(root, Path.Combine(parts.ToArray()));
    }

    /// <summary>
    /// True when a symlink placed at <paramref name="linkRelative"/> (relative to the root) with this target stays
    /// inside the root: relative targets only, and never climbing above the root.
    /// </summary>
    public static bool SymlinkStaysInside(string linkRelative, string target)
    {
        if (target.Length == 0 || target[0] == '/')
        {
            return false;
        }

        var depth = 0;
        var parts = linkRelative.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length - 1; i++)
        {
            depth += parts[i] == ".." ? -1 : parts[i] == "." ? 0 : 1;
        }

        foreach (var part in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..")
            {
                depth--;
                if (depth < 0)
                {
                    return false;
                }
            }
            else if (part != ".")
            {
                depth++;
            }
        }

        return true;
    }
}
