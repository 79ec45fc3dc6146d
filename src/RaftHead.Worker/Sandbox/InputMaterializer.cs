using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using RaftHead.Protocol;
using RaftHead.Storage;
using RaftHead.Storage.Merkle;
using ReapiDirectory = Build.Bazel.Remote.Execution.V2.Directory;

namespace RaftHead.Worker.Sandbox;

/// <summary>
/// Lays an input root out on disk: directories created, files hard-linked from the <see cref="FileCache"/>
/// (copied only where a link cannot be made), symlinks created after checking they stay inside.
/// </summary>
public sealed class InputMaterializer
{
    private const int FetchParallelism = 8;

    private readonly IBlobStore _store;
    private readonly FileCache _cache;
    private readonly MerkleWalker _walker;

    public InputMaterializer(IBlobStore store, FileCache cache)
    {
        _store = store;
        _cache = cache;

        // Every path is laid out, so a directory referenced twice is read and created twice; no bounds beyond the head's.
        _walker = new MerkleWalker(store, new MerkleWalkOptions
        {
            ConcurrencyMax = FetchParallelism,
            DirectoryMaxBytes = long.MaxValue,
            DirectoriesMax = int.MaxValue,
            Visit = MerkleVisitMode.EachPath,
            Missing = MissingDirectoryMode.Collect,
        });
    }

    /// <param name="owner">Directories are given to this user so the action can create its outputs; null keeps ours.</param>
    public async Task<MaterializeResult> MaterializeAsync(string instanceName, Digest rootDigest, string root, UnixUser? owner, CancellationToken cancellationToken)
    {
        if (rootDigest.SizeBytes == 0 && rootDigest.Hash == Digests.EmptyHash)
        {
            // The empty Directory: nothing to read or lay out (common for tool-only actions).
            System.IO.Directory.CreateDirectory(root);
            Own(root, owner);
            return new MaterializeResult(Array.Empty<Digest>(), null, 0, 0, 0);
        }

        System.IO.Directory.CreateDirectory(root);
        Own(root, owner);
        if (Digests.Validate(rootDigest) is not null)
        {
            return Invalid($"input directory '.' ({rootDigest.Hash}/{rootDigest.SizeBytes}) is not a Directory message");
        }

        var layout = new Layout(root, owner);
        try
        {
            await _walker.WalkAsync(instanceName, rootDigest, layout, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDirectoryException e)
        {
            return Invalid(e.Kind == InvalidDirectoryKind.BreaksRules
                ? $"input directory '{Display(e.Path!)}' ({e.Digest.Hash}/{e.Digest.SizeBytes}): {e.Reason}"
                : $"input directory '{Display(e.Path!)}' ({e.Digest.Hash}/{e.Digest.SizeBytes}) is not a Directory message");
        }

        if (layout.Invalid is { } invalid)
        {
            return Invalid(invalid);
        }

        var missing = layout.Missing;
        var files = layout.Files;
        var linked = 0;
        var copied = 0;
        var missingFiles = new ConcurrentBag<Digest>();
        await Parallel.ForEachAsync(
            files,
            new ParallelOptions { MaxDegreeOfParallelism = FetchParallelism, CancellationToken = cancellationToken },
            async (item, token) =>
            {
                // Most inputs are cached already: try the link first and fetch only when the cached file is absent.
                if (LibC.Link(_cache.PathFor(item.Node.Digest, item.Node.IsExecutable), item.Path) == 0)
                {
                    Interlocked.Increment(ref linked);
                    return;
                }

                var source = await _cache.GetAsync(_store, instanceName, item.Node.Digest, item.Node.IsExecutable, token).ConfigureAwait(false);
                if (source is null)
                {
                    missingFiles.Add(item.Node.Digest);
                    return;
                }

                if (LibC.Link(source, item.Path) == 0)
                {
                    Interlocked.Increment(ref linked);
                    return;
                }

                // Across file systems, or past the link limit of one inode: a copy with the same mode.
                File.Copy(source, item.Path);
                File.SetUnixFileMode(item.Path, File.GetUnixFileMode(source));
                Interlocked.Increment(ref copied);
            }).ConfigureAwait(false);

        missing.AddRange(missingFiles);
        return new MaterializeResult(Deduplicate(missing), null, files.Count, linked, copied);
    }

    private static MaterializeResult Invalid(string message) => new(Array.Empty<Digest>(), message, 0, 0, 0);

    private static List<Digest> Deduplicate(List<Digest> digests)
    {
        var seen = new HashSet<(string, long)>();
        var unique = new List<Digest>(digests.Count);
        foreach (var digest in digests)
        {
            if (seen.Add((digest.Hash, digest.SizeBytes)))
            {
                unique.Add(digest);
            }
        }

        return unique;
    }

    private static void Own(string path, UnixUser? owner)
    {
        if (owner is not null && LibC.LChown(path, owner.Uid, owner.Gid) != 0)
        {
            throw new IOException($"cannot give '{path}' to user {owner.Name}: errno {LibC.LastError}");
        }
    }

    private static string Display(string relative) => relative.Length == 0 ? "." : relative;

    /// <summary>
    /// Creates each directory's subdirectories (given to the owner) and symlinks as the walk reaches it, and lists its
    /// files for linking afterwards; stops at the first symlink that would leave the root.
    /// </summary>
    private sealed class Layout(string root, UnixUser? owner) : IMerkleVisitor
    {
        public List<Digest> Missing { get; } = [];

        public List<(string Path, FileNode Node)> Files { get; } = [];

        public string? Invalid { get; private set; }

        public void OnLevel(ReadOnlySpan<Digest> directories)
        {
        }

        public bool OnDirectory(Digest digest, ReapiDirectory directory, string? path)
        {
            var relative = path!;
            var here = relative.Length == 0 ? root : Path.Combine(root, relative);
            foreach (var child in directory.Directories)
            {
                var childPath = Path.Combine(root, MerkleWalker.ChildPath(relative, child.Name));
                System.IO.Directory.CreateDirectory(childPath);
                Own(childPath, owner);
            }

            foreach (var file in directory.Files)
            {
                Files.Add((Path.Combine(here, file.Name), file));
            }

            foreach (var link in directory.Symlinks)
            {
                var linkRelative = MerkleWalker.ChildPath(relative, link.Name);
                if (!SandboxPath.SymlinkStaysInside(linkRelative, link.Target))
                {
                    Invalid = $"input symlink '{linkRelative}' -> '{link.Target}' would leave the input root";
                    return false;
                }

                File.CreateSymbolicLink(Path.Combine(root, linkRelative), link.Target);
            }

            return true;
        }

        public void OnMissing(Digest digest, string? path) => Missing.Add(digest);
    }
}
