using System.Globalization;
using RaftHead.Protocol.V1;

namespace RaftHead.Cli.Graphs;

/// <summary>
/// Reads a graph file and checks what JSON cannot: ids, commands, paths, and that every reference names a node and one
/// of its outputs and every local input exists. Each error names the node and the field.
/// </summary>
internal static class GraphFileLoader
{
    public const int NodeIdLengthMax = 128;
    public const int GraphIdLengthMax = 256;

    public static async Task<ResolvedGraph> LoadAsync(string path, CancellationToken cancellationToken)
    {
        byte[] content;
        try
        {
            content = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GraphFileException($"{path}: cannot read the graph file: {e.Message}");
        }

        var file = GraphFileJson.Parse(path, content);
        return Resolve(path, Path.GetDirectoryName(Path.GetFullPath(path))!, file);
    }

    /// <summary>Checks <paramref name="file"/>, whose local paths are relative to <paramref name="baseDirectory"/>.</summary>
    public static ResolvedGraph Resolve(string fileName, string baseDirectory, GraphFile file)
    {
        void Fail(string message) => throw new GraphFileException($"{fileName}: {message}");

        if (file.GraphId is { } graphId && (graphId.Length == 0 || graphId.Length > GraphIdLengthMax))
        {
            Fail($"graph_id must be 1..{GraphIdLengthMax} characters, got {graphId.Length}");
        }

        if (file.Nodes.Count == 0)
        {
            Fail("nodes is empty: a graph needs at least one node");
        }

        var outputsOf = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        for (var i = 0; i < file.Nodes.Count; i++)
        {
            var node = file.Nodes[i];
            if (IdProblem(node.Id) is { } problem)
            {
                Fail($"nodes[{i}], id: '{node.Id}' {problem}");
            }

            if (!outputsOf.TryAdd(node.Id, new HashSet<string>(node.Outputs ?? [], StringComparer.Ordinal)))
            {
                Fail($"node '{node.Id}', id: the id is used by an earlier node too");
            }
        }

        var sets = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (name, paths) in file.InputSets ?? [])
        {
            var normalized = new List<string>(paths.Count);
            foreach (var entry in paths)
            {
                var local = LocalPath(entry, baseDirectory, out var error);
                if (local is null)
                {
                    Fail($"input set '{name}': {error}");
                }

                normalized.Add(local!);
            }

            sets[name] = normalized;
        }

        var resolved = new List<ResolvedNode>(file.Nodes.Count);
        foreach (var node in file.Nodes)
        {
            void NodeFail(string field, string message) => Fail($"node '{node.Id}', {field}: {message}");

            if (node.Argv.Count == 0 || node.Argv[0].Length == 0)
            {
                NodeFail("argv", "is empty: it needs at least the program to run");
            }

            for (var o = 0; o < (node.Outputs?.Count ?? 0); o++)
            {
                if (RelativeProblem(node.Outputs![o]) is { } problem)
                {
                    NodeFail($"outputs[{o}]", $"'{node.Outputs[o]}' {problem}");
                }
            }

            if (node.Workdir is { Length: > 0 } workdir && RelativeProblem(workdir) is { } workdirProblem)
            {
                NodeFail("workdir", $"'{workdir}' {workdirProblem}");
            }

            if (node.TimeoutS is { } timeout && (timeout < 0 || double.IsNaN(timeout) || double.IsInfinity(timeout)))
            {
                NodeFail("timeout_s", string.Create(CultureInfo.InvariantCulture, $"must be a number of seconds >= 0, got {timeout}"));
            }

            foreach (var (name, _) in node.Env ?? [])
            {
                if (name.Length == 0 || name.Contains('=', StringComparison.Ordinal))
                {
                    NodeFail("env", $"'{name}' is not a variable name");
                }
            }

            var locals = new List<string>();
            var references = new List<NodeInput>();
            for (var k = 0; k < (node.Inputs?.Count ?? 0); k++)
            {
                var input = node.Inputs![k];
                var field = $"inputs[{k}]";
                if (input.Text is { } text)
                {
                    var colon = text.IndexOf(':', StringComparison.Ordinal);
                    if (colon > 0 && outputsOf.ContainsKey(text[..colon]))
                    {
                        references.Add(Reference(text[..colon], text[(colon + 1)..], "", field, text));
                    }
                    else if (text.StartsWith('@'))
                    {
                        if (!sets.TryGetValue(text[1..], out var set))
                        {
                            NodeFail(field, $"'{text}' names no input set (input_sets has {Names(sets.Keys)})");
                        }

                        locals.AddRange(set!);
                    }
                    else
                    {
                        var local = LocalPath(text, baseDirectory, out var error);
                        if (local is null)
                        {
                            NodeFail(field, colon > 0 ? $"{error} (and '{text[..colon]}' before the ':' is not a node of this graph)" : error!);
                        }

                        locals.Add(local!);
                    }
                }
                else
                {
                    if (!outputsOf.ContainsKey(input.From!))
                    {
                        NodeFail($"{field}.from", $"'{input.From}' is not a node of this graph");
                    }

                    references.Add(Reference(input.From!, input.Output!, input.Path ?? "", field, $"{input.From}:{input.Output}"));
                }
            }

            resolved.Add(new ResolvedNode(node, locals, references));

            NodeInput Reference(string from, string output, string placed, string field, string written)
            {
                if (from == node.Id)
                {
                    NodeFail(field, $"'{written}' names the node's own output");
                }

                if (!outputsOf[from].Contains(output))
                {
                    NodeFail(field, $"'{written}': node '{from}' has no output '{output}' (its outputs: {Names(outputsOf[from])})");
                }

                if (placed.Length > 0 && RelativeProblem(placed) is { } problem)
                {
                    NodeFail($"{field}.path", $"'{placed}' {problem}");
                }

                return new NodeInput { Node = from, Output = output, Path = placed };
            }
        }

        return new ResolvedGraph(fileName, baseDirectory, file, resolved);
    }

    /// <summary>Why <paramref name="id"/> is not a node id, or null.</summary>
    public static string? IdProblem(string id)
    {
        if (id.Length is 0 or > NodeIdLengthMax)
        {
            return $"must be 1..{NodeIdLengthMax} characters";
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '+' or '/'))
            {
                return $"has '{c}': ids are made of A-Z a-z 0-9 . _ - + /";
            }
        }

        return null;
    }

    /// <summary>The normalized form of a local input ("" for the base directory itself), or null with the reason.</summary>
    private static string? LocalPath(string text, string baseDirectory, out string? error)
    {
        if (RelativeProblem(text.Length == 0 ? "" : text, allowRoot: true) is { } problem)
        {
            error = $"'{text}' {problem}";
            return null;
        }

        var normalized = Normalize(text);
        var full = normalized.Length == 0 ? baseDirectory : Path.Combine(baseDirectory, normalized);
        var isLink = new FileInfo(full).LinkTarget is not null;
        if (!isLink && !Path.Exists(full))
        {
            error = $"'{text}' is not a file or directory (looked for {full})";
            return null;
        }

        if (text.EndsWith('/') && (isLink || !Directory.Exists(full)))
        {
            error = $"'{text}' ends with '/' but {full} is not a directory";
            return null;
        }

        error = null;
        return normalized;
    }

    /// <summary>Why <paramref name="path"/> cannot name a place inside an input root, or null.</summary>
    private static string? RelativeProblem(string path, bool allowRoot = false)
    {
        if (path.Length == 0)
        {
            return allowRoot ? null : "is empty";
        }

        if (path.StartsWith('/'))
        {
            return "is absolute: paths are relative to the graph file's directory (inputs) or the working directory (outputs)";
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            return "contains a NUL character";
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment == "..")
            {
                return "leaves its directory ('..')";
            }
        }

        return !allowRoot && Normalize(path).Length == 0 ? "names no file" : null;
    }

    private static string Normalize(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return string.Join('/', parts.Where(p => p != "."));
    }

    private static string Names(IEnumerable<string> names)
    {
        var list = names.Select(n => $"'{n}'").ToList();
        return list.Count == 0 ? "none" : string.Join(", ", list);
    }
}
