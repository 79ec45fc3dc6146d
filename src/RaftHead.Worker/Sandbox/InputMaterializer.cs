using System.Collections.Concurrent;
using Build.Bazel.Remote.Execution.V2;
using Google.Protobuf;
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

    public InputMaterializer(IBlobStore store, FileCache cache)
    {
        _store = store;
        _cache = cache;
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

        var missing = new List<Digest>();
        var files = new List<(string Path, FileNode Node)>();
        var queue = new Queue<(string Relative, Digest Digest)>();
        queue.Enqueue(("", rootDigest));
        System.IO.Directory.CreateDirectory(root);
        Own(root, owner);
        while (queue.Count > 0)
        {
            var (relative, digest) = queue.Dequeue();
            var (directory, unparsable) = await ReadDirectoryAsync(instanceName, digest, cancellationToken).ConfigureAwait(false);
            if (unparsable)
            {
                return Invalid($"input directory '{Display(relative)}' ({digest.Hash}/{digest.SizeBytes}) is not a Directory message");
            }

            if (directory is null)
            {
                missing.Add(digest);
                continue;
            }

            if (DirectoryValidator.Validate(directory) is { } problem)
            {
                return Invalid($"input directory '{Display(relative)}' ({digest.Hash}/{digest.SizeBytes}): {problem}");
            }

            var here = relative.Length == 0 ? root : Path.Combine(root, relative);
            foreach (var child in directory.Directories)
            {
                var childRelative = Join(relative, child.Name);
                var path = Path.Combine(root, childRelative);
                System.IO.Directory.CreateDirectory(path);
                Own(path, owner);
                queue.Enqueue((childRelative, child.Digest));
            }

            foreach (var file in directory.Files)
            {
                files.Add((Path.Combine(here, file.Name), file));
            }

            foreach (var link in directory.Symlinks)
            {
                var linkRelative = Join(relative, link.Name);
                if (!SandboxPath.SymlinkStaysInside(linkRelative, link.Target))
                {
                    return Invalid($"input symlink '{linkRelative}' -> '{link.Target}' would leave the input root");
                }

                File.CreateSymbolicLink(Path.Combine(root, linkRelative), link.Target);
            }
        }

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

    private static string Join(string relative, string name) => relative.Length == 0 ? name : relative + "/" + name;

    private static string Display(string relative) => relative.Length == 0 ? "." : relative;

    /// <summary>The Directory a digest names; null when the CAS lacks it; Unparsable when its bytes are not one.</summary>
    private async Task<(ReapiDirectory? Directory, bool Unparsable)> ReadDirectoryAsync(string instanceName, Digest digest, CancellationToken cancellationToken)
    {
        if (Digests.Validate(digest) is not null)
        {
            return (null, true);
        }

        var buffer = await _store.ReadAllAsync(instanceName, digest, cancellationToken).ConfigureAwait(false);
        if (buffer is null)
        {
            return (null, false);
        }

        try
        {
            return (ReapiDirectory.Parser.ParseFrom(buffer), false);
        }
        catch (InvalidProtocolBufferException)
        {
            return (null, true);
        }
    }
}
