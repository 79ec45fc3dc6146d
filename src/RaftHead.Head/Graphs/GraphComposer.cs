using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
using RaftHead.Head.Scheduling;
using RaftHead.Protocol;
using RaftHead.Protocol.V1;
using RaftHead.Storage;

using ReapiAction = Build.Bazel.Remote.Execution.V2.Action;
using ReapiCommand = Build.Bazel.Remote.Execution.V2.Command;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Head.Graphs;

/// <summary>
/// Turns a ready graph node into a REAPI action: its input root is its own input tree with each producer's output
/// (a file, a directory from its Tree, or a symlink) placed at the input's path, re-hashed from the changed directories
/// up; its Command and Action follow from the node. Every Directory, the Command and the Action are written to the CAS
/// before the action is submitted, so a worker finds them like any client's. Deterministic: the same node and producer
/// results give the same action digest on any head, so a new leader recomposing a node builds the same action.
/// </summary>
internal sealed class GraphComposer
{
    private readonly IBlobStore _blobs;
    private readonly int _messageMaxBytes;

    public GraphComposer(IBlobStore blobs, int messageMaxBytes)
    {
        _blobs = blobs;
        _messageMaxBytes = messageMaxBytes;
    }

    /// <summary>The composed action, or why the node cannot run (<see cref="GraphCompositionException"/>).</summary>
    public async Task<ComposedAction> ComposeAsync(GraphRecord graph, int index, CancellationToken cancellationToken)
    {
        var instance = graph.Request.InstanceName;
        var node = graph.Request.Nodes[index];
        var written = new List<(Digest Digest, ByteString Bytes)>();
        var root = node.InputRootDigest is { } own && !Digests.IsEmptyBlob(own) && own.SizeBytes > 0
            ? await OpenAsync(instance, own, "the node's input root", cancellationToken).ConfigureAwait(false)
            : new ComposedDirectory();
        foreach (var input in node.Inputs)
        {
            var producerIndex = graph.Topology.IndexOf[input.Node];
            var producer = graph.Request.Nodes[producerIndex];
            var result = graph.Nodes[producerIndex].Result
                ?? throw new GraphCompositionException($"node '{input.Node}' has no result to take '{input.Output}' from");
            var target = GraphRules.TargetPath(input, producer);
            var entry = await FindOutputAsync(instance, input, result, written, cancellationToken).ConfigureAwait(false);
            await InsertAsync(instance, root, target, entry, cancellationToken).ConfigureAwait(false);
        }

        var rootDigest = Seal(root, written);
        var command = new ReapiCommand { WorkingDirectory = node.WorkingDirectory, Platform = SortedPlatform(node.Platform) };
        command.Arguments.Add(node.Arguments);
        var environment = new List<ReapiCommand.Types.EnvironmentVariable>(node.EnvironmentVariables);
        environment.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        command.EnvironmentVariables.Add(environment);
        var outputs = new List<string>(node.OutputPaths);
        outputs.Sort(StringComparer.Ordinal);
        command.OutputPaths.Add(outputs);
        var commandDigest = Add(command, written);
        var action = new ReapiAction
        {
            CommandDigest = commandDigest,
            InputRootDigest = rootDigest,
            DoNotCache = node.DoNotCache,
            Platform = command.Platform,
        };
        if (node.Timeout is { } timeout && (timeout.Seconds > 0 || timeout.Nanos > 0))
        {
            action.Timeout = timeout;
        }

        var actionDigest = Add(action, written);
        await StoreAsync(instance, written, cancellationToken).ConfigureAwait(false);
        return new ComposedAction(actionDigest, action);
    }

    /// <summary>
    /// The producers of node <paramref name="index"/> whose outputs it takes are no longer in the CAS (a file, or the
    /// Tree of a directory): they must run again before the node can. Empty when everything is there.
    /// </summary>
    public async Task<List<string>> LostProducersAsync(GraphRecord graph, int index, CancellationToken cancellationToken)
    {
        var node = graph.Request.Nodes[index];
        var digests = new List<Digest>();
        var owners = new List<string>();
        foreach (var input in node.Inputs)
        {
            if (graph.FindNode(input.Node)?.Result is not { } result || OutputBlob(result, input.Output) is not { } digest)
            {
                continue;
            }

            digests.Add(digest);
            owners.Add(input.Node);
        }

        var lost = new List<string>();
        if (digests.Count == 0)
        {
            return lost;
        }

        var missing = new List<Digest>();
        await _blobs.FindMissingAsync(graph.Request.InstanceName, digests, missing, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < digests.Count; i++)
        {
            if (missing.Contains(digests[i]) && !lost.Contains(owners[i]))
            {
                lost.Add(owners[i]);
            }
        }

        return lost;
    }

    /// <summary>The blob behind one output of a result: a file's content or a directory's Tree; null for a symlink or no such output.</summary>
    private static Digest? OutputBlob(ActionResult result, string path)
    {
        var output = FindOutput(result, path);
        return output.File?.Digest ?? output.Directory?.TreeDigest;
    }

    private async Task<InputEntry> FindOutputAsync(string instance, NodeInput input, ActionResult result, List<(Digest, ByteString)> written, CancellationToken cancellationToken)
    {
        var output = FindOutput(result, input.Output);
        if (output.File is { } file)
        {
            return new InputEntry(new FileNode { Digest = file.Digest, IsExecutable = file.IsExecutable }, null, null);
        }

        if (output.Directory is { } directory)
        {
            return new InputEntry(null, await ExpandTreeAsync(instance, directory.TreeDigest, input, written, cancellationToken).ConfigureAwait(false), null);
        }

        return output.Symlink is { } symlink
            ? new InputEntry(null, null, symlink.Target)
            : throw new GraphCompositionException($"node '{input.Node}' left no output '{input.Output}'");
    }

    /// <summary>The output a result holds at <paramref name="path"/>: a file, a directory or a symlink (of any of REAPI's symlink lists); all null when none.</summary>
    private static (OutputFile? File, OutputDirectory? Directory, OutputSymlink? Symlink) FindOutput(ActionResult result, string path)
    {
        foreach (var file in result.OutputFiles)
        {
            if (file.Path == path)
            {
                return (file, null, null);
            }
        }

        foreach (var directory in result.OutputDirectories)
        {
            if (directory.Path == path)
            {
                return (null, directory, null);
            }
        }

        foreach (var symlinks in (ReadOnlySpan<Google.Protobuf.Collections.RepeatedField<OutputSymlink>>)[result.OutputSymlinks, result.OutputFileSymlinks, result.OutputDirectorySymlinks])
        {
            foreach (var symlink in symlinks)
            {
                if (symlink.Path == path)
                {
                    return (null, null, symlink);
                }
            }
        }

        return (null, null, null);
    }

    /// <summary>A producer's output directory arrives as one Tree; an input root needs each of its Directories on its own.</summary>
    private async Task<Digest> ExpandTreeAsync(string instance, Digest treeDigest, NodeInput input, List<(Digest, ByteString)> written, CancellationToken cancellationToken)
    {
        var bytes = await ReadAsync(instance, treeDigest, $"the tree of output '{input.Output}' of node '{input.Node}'", TreeMaxBytes, cancellationToken).ConfigureAwait(false);
        Tree tree;
        try
        {
            tree = Tree.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new GraphCompositionException($"the tree of output '{input.Output}' of node '{input.Node}' does not parse: {e.Message}");
        }

        foreach (var child in tree.Children)
        {
            Add(child, written);
        }

        return Add(tree.Root ?? new ReapiDirectory(), written);
    }

    private long TreeMaxBytes => 16L * _messageMaxBytes;

    private async Task InsertAsync(string instance, ComposedDirectory root, string path, InputEntry entry, CancellationToken cancellationToken)
    {
        var segments = path.Split('/');
        var directory = root;
        for (var i = 0; i < segments.Length - 1; i++)
        {
            var name = segments[i];
            if (directory.Files.ContainsKey(name) || directory.Symlinks.ContainsKey(name))
            {
                throw new GraphCompositionException($"input '{path}': '{string.Join('/', segments[..(i + 1)])}' is a file in the input root, not a directory");
            }

            if (!directory.Directories.TryGetValue(name, out var child))
            {
                child = new ComposedChild(null, new ComposedDirectory());
                directory.Directories.Add(name, child);
            }
            else if (child.Opened is null)
            {
                child = new ComposedChild(null, await OpenAsync(instance, child.Digest!, "directory '" + string.Join('/', segments[..(i + 1)]) + "' of the input root", cancellationToken).ConfigureAwait(false));
                directory.Directories[name] = child;
            }

            directory = child.Opened!;
        }

        var last = segments[^1];
        if (directory.Files.ContainsKey(last) || directory.Directories.ContainsKey(last) || directory.Symlinks.ContainsKey(last))
        {
            throw new GraphCompositionException($"input '{path}' is already taken in the node's input root");
        }

        if (entry.File is { } file)
        {
            file.Name = last;
            directory.Files.Add(last, file);
        }
        else if (entry.Directory is { } digest)
        {
            directory.Directories.Add(last, new ComposedChild(digest, null));
        }
        else
        {
            directory.Symlinks.Add(last, new SymlinkNode { Name = last, Target = entry.SymlinkTarget });
        }
    }

    private async Task<ComposedDirectory> OpenAsync(string instance, Digest digest, string what, CancellationToken cancellationToken)
    {
        var bytes = await ReadAsync(instance, digest, what, _messageMaxBytes, cancellationToken).ConfigureAwait(false);
        ReapiDirectory parsed;
        try
        {
            parsed = ReapiDirectory.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new GraphCompositionException($"{what} ({Digests.ToResourceString(digest)}) is not a Directory: {e.Message}");
        }

        var opened = new ComposedDirectory();
        foreach (var file in parsed.Files)
        {
            opened.Files[file.Name] = file;
        }

        foreach (var child in parsed.Directories)
        {
            opened.Directories[child.Name] = new ComposedChild(child.Digest, null);
        }

        foreach (var symlink in parsed.Symlinks)
        {
            opened.Symlinks[symlink.Name] = symlink;
        }

        return opened;
    }

    private async Task<byte[]> ReadAsync(string instance, Digest digest, string what, long maxBytes, CancellationToken cancellationToken)
    {
        if (digest.SizeBytes > maxBytes)
        {
            throw new GraphCompositionException($"{what} ({Digests.ToResourceString(digest)}) is larger than the {maxBytes} bytes this head reads");
        }

        return await _blobs.ReadAllAsync(instance, digest, cancellationToken).ConfigureAwait(false)
            ?? throw new GraphCompositionException($"{what} ({Digests.ToResourceString(digest)}) is not in the CAS");
    }

    /// <summary>Hashes the opened directories bottom-up in REAPI's canonical order (names sorted); untouched subtrees keep their digests.</summary>
    private static Digest Seal(ComposedDirectory directory, List<(Digest, ByteString)> written)
    {
        var sealedDirectory = new ReapiDirectory();
        foreach (var (_, file) in directory.Files)
        {
            sealedDirectory.Files.Add(file);
        }

        foreach (var (name, child) in directory.Directories)
        {
            sealedDirectory.Directories.Add(new DirectoryNode { Name = name, Digest = child.Opened is { } opened ? Seal(opened, written) : child.Digest });
        }

        foreach (var (_, symlink) in directory.Symlinks)
        {
            sealedDirectory.Symlinks.Add(symlink);
        }

        return Add(sealedDirectory, written);
    }

    private static Digest Add(IMessage message, List<(Digest, ByteString)> written)
    {
        var bytes = message.ToByteString();
        var digest = Digests.Compute(bytes.Span);
        written.Add((digest, bytes));
        return digest;
    }

    private async Task StoreAsync(string instance, List<(Digest Digest, ByteString Bytes)> written, CancellationToken cancellationToken)
    {
        var digests = new List<Digest>(written.Count);
        foreach (var (digest, _) in written)
        {
            digests.Add(digest);
        }

        var missing = new List<Digest>();
        await _blobs.FindMissingAsync(instance, digests, missing, cancellationToken).ConfigureAwait(false);
        foreach (var (digest, bytes) in written)
        {
            if (missing.Remove(digest))
            {
                await _blobs.PutAsync(instance, digest, bytes.Memory, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>REAPI wants platform properties sorted by name, then value.</summary>
    private static Platform SortedPlatform(Platform? platform)
    {
        var sorted = new Platform();
        if (platform is null)
        {
            return sorted;
        }

        var properties = new List<Platform.Types.Property>(platform.Properties);
        properties.Sort(static (a, b) =>
        {
            var byName = string.CompareOrdinal(a.Name, b.Name);
            return byName != 0 ? byName : string.CompareOrdinal(a.Value, b.Value);
        });
        sorted.Properties.Add(properties);
        return sorted;
    }

    private sealed class ComposedDirectory
    {
        public SortedDictionary<string, FileNode> Files { get; } = new(StringComparer.Ordinal);

        public SortedDictionary<string, ComposedChild> Directories { get; } = new(StringComparer.Ordinal);

        public SortedDictionary<string, SymlinkNode> Symlinks { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>A subdirectory: untouched (its digest) or opened to insert into.</summary>
    private sealed record ComposedChild(Digest? Digest, ComposedDirectory? Opened);

    private readonly record struct InputEntry(FileNode? File, Digest? Directory, string? SymlinkTarget);
}

/// <summary>A node's composed action: its digest and the message (its platform and flags go into the submit).</summary>
internal sealed record ComposedAction(Digest Digest, ReapiAction Action);

/// <summary>A node that cannot be turned into an action; the message becomes the node's failure.</summary>
internal sealed class GraphCompositionException(string message) : Exception(message);
