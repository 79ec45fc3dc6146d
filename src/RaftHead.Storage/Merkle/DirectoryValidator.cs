using System.Globalization;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using Directory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Storage.Merkle;

/// <summary>
/// Checks a Directory message against the REAPI rules: within each of files, directories and symlinks
/// names are sorted (ordinal, i.e. by UTF-16 code unit, which matches byte order for the BMP) and
/// unique; a name is unique across all three; no name is empty, ".", ".." or contains '/' or NUL;
/// every digest is well-formed; a symlink has a target. Returns null when valid, otherwise one message
/// naming the first problem precisely enough for an INVALID_ARGUMENT or FAILED_PRECONDITION status.
/// </summary>
public static class DirectoryValidator
{
    public static string? Validate(Directory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string? previous = null;
        for (int i = 0; i < directory.Files.Count; i++)
        {
            FileNode file = directory.Files[i];
            string? error = CheckName("files", i, file.Name, previous)
                ?? CheckDigest("files", i, file.Name, file.Digest);
            if (error is not null)
            {
                return error;
            }

            previous = file.Name;
        }

        previous = null;
        for (int i = 0; i < directory.Directories.Count; i++)
        {
            DirectoryNode child = directory.Directories[i];
            string? error = CheckName("directories", i, child.Name, previous)
                ?? CheckDigest("directories", i, child.Name, child.Digest);
            if (error is not null)
            {
                return error;
            }

            previous = child.Name;
        }

        previous = null;
        for (int i = 0; i < directory.Symlinks.Count; i++)
        {
            SymlinkNode link = directory.Symlinks[i];
            string? error = CheckName("symlinks", i, link.Name, previous);
            if (error is not null)
            {
                return error;
            }

            if (string.IsNullOrEmpty(link.Target))
            {
                return Format($"symlinks[{i}] '{link.Name}' has an empty target");
            }

            previous = link.Name;
        }

        return CheckAcrossKinds(directory);
    }

    private static string? CheckName(string list, int index, string name, string? previous)
    {
        if (name.Length == 0)
        {
            return Format($"{list}[{index}] has an empty name");
        }

        if (name is "." or "..")
        {
            return Format($"{list}[{index}] is named '{name}', which is not allowed");
        }

        int bad = name.AsSpan().IndexOfAny('/', '\0');
        if (bad >= 0)
        {
            string what = name[bad] == '/' ? "'/'" : "a NUL character";
            return Format($"{list}[{index}] name '{Printable(name)}' contains {what} at position {bad}: names are single path components");
        }

        if (previous is not null)
        {
            int order = string.CompareOrdinal(previous, name);
            if (order == 0)
            {
                return Format($"{list}[{index}] name '{name}' appears more than once in {list}");
            }

            if (order > 0)
            {
                return Format($"{list}[{index}] name '{name}' is not sorted: it comes after '{previous}'");
            }
        }

        return null;
    }

    private static string? CheckDigest(string list, int index, string name, Digest? digest)
    {
        string? error = Digests.Validate(digest);
        return error is null ? null : Format($"{list}[{index}] '{name}': {error}");
    }

    private static string? CheckAcrossKinds(Directory directory)
    {
        int total = directory.Files.Count + directory.Directories.Count + directory.Symlinks.Count;
        if (total < 2)
        {
            return null;
        }

        var seen = new Dictionary<string, string>(total, StringComparer.Ordinal);
        foreach (FileNode file in directory.Files)
        {
            seen[file.Name] = "files";
        }

        foreach (DirectoryNode child in directory.Directories)
        {
            if (seen.TryGetValue(child.Name, out string? other))
            {
                return Format($"name '{child.Name}' appears in both {other} and directories");
            }

            seen[child.Name] = "directories";
        }

        foreach (SymlinkNode link in directory.Symlinks)
        {
            if (seen.TryGetValue(link.Name, out string? other))
            {
                return Format($"name '{link.Name}' appears in both {other} and symlinks");
            }
        }

        return null;
    }

    private static string Printable(string name) => name.Replace("\0", "\\0", StringComparison.Ordinal);

    private static string Format(FormattableString message) => message.ToString(CultureInfo.InvariantCulture);
}
